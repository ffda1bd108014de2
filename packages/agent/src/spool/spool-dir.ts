import { lstat, mkdir, realpath } from 'node:fs/promises';
import { isUnder } from '@hpcmirror/core';
import { HpcmError } from '@hpcmirror/core';

const unsafe = (dir: string, why: string): HpcmError =>
  new HpcmError('HPM_SPOOL_UNSAFE', `spool directory ${dir}: ${why}`, { field: 'agent.spool_dir' });

async function realOrSelf(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return p;
  }
}

/**
 * The agent refuses a spool others could write into or swap (semantics.md "The spool"): it must be
 * a real directory (not a symlink), owned by this user, mode 0700, and outside source_root (else the
 * agent would announce its own spool). A missing directory is created 0700.
 */
export async function prepareSpoolDir(dir: string, sourceRoot: string, uid = process.getuid?.() ?? 0): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unsafe(dir, `cannot stat (${(err as NodeJS.ErrnoException).code})`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    st = await lstat(dir);
  }
  if (st.isSymbolicLink()) throw unsafe(dir, 'is a symlink; use the real directory');
  if (!st.isDirectory()) throw unsafe(dir, 'is not a directory');
  if (st.uid !== uid) throw unsafe(dir, `is owned by uid ${st.uid}, not by this user (uid ${uid})`);
  const perm = st.mode & 0o777;
  if (perm !== 0o700) throw unsafe(dir, `has mode ${perm.toString(8)}; it must be 700 (chmod 700 ${dir})`);
  const realDir = Buffer.from(await realOrSelf(dir));
  const realRoot = Buffer.from(await realOrSelf(sourceRoot));
  if (isUnder(realDir, realRoot)) throw unsafe(dir, `is inside source_root ${sourceRoot}; put it outside any mirrored tree`);
}
