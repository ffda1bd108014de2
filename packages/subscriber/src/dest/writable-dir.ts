import { fchmod } from 'node:fs';
import { promisify } from 'node:util';
import { fstatFd } from './at-ops.js';

const fchmodP = promisify(fchmod);

/**
 * Runs `fn` (which adds, renames or removes entries in the directory `dirFd` holds) with the owner's
 * write and search bits on, restoring the directory's mode afterwards. Without root, a mirrored
 * read-only directory (`chmod a-w` once a run is complete, a common end of an HPC job) would
 * otherwise refuse every later change inside it. Root needs none of this.
 */
export async function withWritableDir<T>(dirFd: number, fn: () => Promise<T>): Promise<T> {
  const mode = Number((await fstatFd(dirFd)).mode) & 0o7777;
  if ((mode & 0o300) === 0o300) return fn();
  await fchmodP(dirFd, mode | 0o300);
  try {
    return await fn();
  } finally {
    await fchmodP(dirFd, mode).catch(() => undefined);
  }
}
