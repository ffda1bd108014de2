/**
 * The few writes failback makes on the primary itself (everything else flows through the reverse
 * subscribers): a probe that it is writable, conflict copies, and the deletes the plan proposed.
 * Every path is root + a relative path checked component by component (no '..', no symlink
 * leading out of the root), as the subscriber does.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, rmdir, unlink, writeFile, copyFile, constants } from 'node:fs/promises';
import { HpcmError, type LoadedConfig } from '@hpcmirror/core';

export interface PrimaryWriter {
  /** Throws HPM_FAILBACK_PRIMARY_DOWN unless the root is a directory we can create and remove a file in. */
  probeWritable(): Promise<void>;
  /** Keeps the primary's version of `rel` as `<rel>.hpcm-conflict-<stamp>` (a hard link, or a copy); idempotent. */
  keepConflict(rel: Buffer, stamp: string): Promise<Buffer>;
  /** Removes a file/symlink, or an empty directory; false when it is already gone or not empty. */
  remove(rel: Buffer, type: 'file' | 'dir' | 'symlink' | 'other'): Promise<boolean>;
}

export function conflictName(rel: Buffer, stamp: string): Buffer {
  return Buffer.concat([rel, Buffer.from(`.hpcm-conflict-${stamp}`)]);
}

function checkedRel(rel: Buffer): Buffer {
  const parts = rel.toString('latin1').split('/');
  if (rel.length === 0 || rel.includes(0) || rel[0] === 0x2f || parts.some((p) => p === '..' || p === '.' || p === '')) {
    throw new HpcmError('HPM_PATH_UNSAFE', `${rel.toString()}: not a plain relative path`);
  }
  return rel;
}

/** A primary mounted here (the sandbox, a shared file system, or failback run on the primary's side). */
export function localPrimaryWriter(root: string): PrimaryWriter {
  const rootB = Buffer.from(root.replace(/\/+$/, ''));
  const abs = (rel: Buffer): Buffer => Buffer.concat([rootB, Buffer.from('/'), checkedRel(rel)]);
  const noSymlinkParents = async (rel: Buffer): Promise<void> => {
    const parts = rel.toString('latin1').split('/').slice(0, -1);
    let cur = rootB;
    for (const p of parts) {
      cur = Buffer.concat([cur, Buffer.from('/'), Buffer.from(p, 'latin1')]);
      const st = await lstat(cur);
      if (st.isSymbolicLink()) throw new HpcmError('HPM_PATH_UNSAFE', `${rel.toString()}: a parent is a symlink`);
    }
  };
  const gone = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');
  return {
    async probeWritable() {
      const probe = Buffer.concat([rootB, Buffer.from(`/.hpcm.${randomBytes(8).toString('hex')}`)]);
      try {
        const st = await lstat(rootB);
        if (!st.isDirectory()) throw new Error('not a directory');
        await writeFile(probe, '', { flag: 'wx', mode: 0o600 });
        await unlink(probe);
      } catch (err) {
        throw new HpcmError('HPM_FAILBACK_PRIMARY_DOWN', `${root}: the primary is not reachable and writable (${(err as Error).message})`);
      }
    },
    async keepConflict(rel, stamp) {
      const name = conflictName(rel, stamp);
      await noSymlinkParents(rel);
      try {
        await link(abs(rel), abs(name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return name;
        if (code !== 'EPERM' && code !== 'EXDEV') throw err;
        await copyFile(abs(rel), abs(name), constants.COPYFILE_EXCL);
      }
      return name;
    },
    async remove(rel, type) {
      await noSymlinkParents(rel);
      try {
        if (type === 'dir') await rmdir(abs(rel));
        else await unlink(abs(rel));
        return true;
      } catch (err) {
        if (gone(err) || (err as NodeJS.ErrnoException).code === 'ENOTEMPTY') return false;
        throw err;
      }
    },
  };
}

/**
 * How failback writes to the primary of this forward config: directly, where the primary is mounted
 * here. With an ssh transport that is checked, not assumed: a probe file made here must be the file
 * the transport sees (same inode) on the primary.
 */
export async function primaryWriterFor(forward: LoadedConfig, primary: { stat(paths: Buffer[]): Promise<({ ino: bigint; nsPrecision: boolean } | null)[]> }): Promise<PrimaryWriter> {
  const root = forward.source_root.replace(/\/+$/, '');
  if (forward.subscriber?.transport === 'local') return localPrimaryWriter(root);
  const probe = `${root}/.hpcm.${randomBytes(8).toString('hex')}`;
  let mounted = false;
  try {
    await writeFile(probe, '', { flag: 'wx', mode: 0o600 });
    const [mine, seen] = await Promise.all([lstat(probe, { bigint: true }), primary.stat([Buffer.from(probe)]).then((r) => r[0])]);
    mounted = !!seen && seen.nsPrecision && seen.ino === mine.ino;
  } catch {
    mounted = false;
  } finally {
    await unlink(probe).catch(() => undefined);
  }
  if (mounted) return localPrimaryWriter(root);
  throw new HpcmError('HPM_USAGE', `${forward.configFile}: failback writes conflict copies and deletes on the primary directly, and ${root} is not the primary the ${forward.subscriber?.transport ?? '-'} transport reaches; run it where the primary is mounted`);
}
