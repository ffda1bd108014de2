/** The primary mounted here (the sandbox, a shared file system, or failback run on the primary's side). */
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { constants, copyFile, link, lstat, rmdir, unlink, writeFile } from 'node:fs/promises';
import { HpcmError } from '@hpcmirror/core';
import { conflictName, type PrimaryWriter } from '../primary-writer.js';
import { checkedRel, parentsOf, stillAsPlanned, symlinkParentError, underRoot } from './primary-paths.js';

const errno = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? '';
const gone = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes(errno(err));

function typeOf(st: BigIntStats): 'file' | 'dir' | 'symlink' | 'other' {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  return st.isSymbolicLink() ? 'symlink' : 'other';
}

export function localPrimaryWriter(root: string): PrimaryWriter {
  const rootB = Buffer.from(root.replace(/\/+$/, ''));
  const abs = (rel: Buffer): Buffer => underRoot(rootB, rel);
  const noSymlinkParents = async (rel: Buffer): Promise<void> => {
    for (const parent of parentsOf(checkedRel(rel))) {
      if (!(await lstat(abs(parent))).isDirectory()) throw symlinkParentError(rel, parent);
    }
  };
  return {
    kind: 'local',
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
        const code = errno(err);
        if (code === 'EEXIST') return name;
        if (code !== 'EPERM' && code !== 'EXDEV') throw err;
        await copyFile(abs(rel), abs(name), constants.COPYFILE_EXCL);
      }
      return name;
    },
    async remove(rel, planned) {
      try {
        await noSymlinkParents(rel);
        const st = await lstat(abs(rel), { bigint: true });
        const now = { type: typeOf(st), size: Number(st.size), mtimeNs: st.mtimeNs, nsPrecision: true };
        if (!stillAsPlanned(now, planned)) return 'changed';
        if (planned.type === 'dir') await rmdir(abs(rel));
        else await unlink(abs(rel));
        return 'removed';
      } catch (err) {
        if (gone(err)) return 'gone';
        if (['ENOTEMPTY', 'EEXIST'].includes(errno(err))) return 'not-empty';
        throw err;
      }
    },
    async close() {},
  };
}
