import { randomBytes } from 'node:crypto';
import { lstat, open, realpath, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isUnder } from '@hpcmirror/core';
import { fail, ok, warn, type DoctorResult } from './doctor-result.js';

async function probeWrite(dir: string): Promise<string | null> {
  const probe = join(dir, `.hpcm-doctor.${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(probe, 'wx', 0o600);
    await fh.close();
    await unlink(probe);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

const realOrSelf = async (p: string): Promise<string> => realpath(p).catch(() => p);

/** The spool the shim writes and the agent reads: the agent's own rules (real dir, ours, 0700, outside the root), and writable. */
export async function checkSpoolDir(dir: string, sourceRoot: string, uid = process.getuid?.() ?? 0): Promise<DoctorResult> {
  const check = 'spool dir';
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? warn(check, `${dir} does not exist yet (the agent creates it, mode 700, at start)`) : fail(check, `${dir}: cannot stat (${code})`);
  }
  if (st.isSymbolicLink()) return fail(check, `${dir} is a symlink; point agent.spool_dir at the real directory`);
  if (!st.isDirectory()) return fail(check, `${dir} is not a directory`);
  if (st.uid !== uid) return fail(check, `${dir} is owned by uid ${st.uid}, not by this user (uid ${uid}); the shim and the agent refuse it`);
  const perm = st.mode & 0o777;
  if (perm !== 0o700) return fail(check, `${dir} has mode ${perm.toString(8)}; it must be 700 (chmod 700 ${dir})`);
  if (isUnder(Buffer.from(await realOrSelf(dir)), Buffer.from(await realOrSelf(sourceRoot)))) {
    return fail(check, `${dir} is inside source_root ${sourceRoot}; move it out of every mirrored tree`);
  }
  const denied = await probeWrite(dir);
  return denied ? fail(check, `${dir} is not writable (${denied})`) : ok(check, `${dir} writable, mode 700, outside the mirrored root`);
}

/** Where the components keep checkpoints, status files and logs. */
export async function checkStateDir(dir: string): Promise<DoctorResult> {
  const check = 'state dir';
  const st = await lstat(dir).catch(() => null);
  if (!st) return warn(check, `${dir} does not exist yet (created at the first start)`);
  if (!st.isDirectory()) return fail(check, `${dir} is not a directory`);
  const denied = await probeWrite(dir);
  if (denied) return fail(check, `${dir} is not writable (${denied})`);
  return (st.mode & 0o077) !== 0 ? warn(check, `${dir} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 700 ${dir}`) : ok(check, `${dir} writable`);
}
