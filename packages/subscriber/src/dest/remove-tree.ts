import { closeFd, errnoOf, lstatAt, openDirAt, readdirFd, rmdirAt, unlinkAt } from './at-ops.js';

/**
 * Removes `name` in the directory `parentFd` holds, recursing into real directories only (each opened
 * with O_NOFOLLOW, so a symlink inside is removed, never followed). `opts.beforeEach` runs before
 * every single removal and may throw to stop half-way (the delete guard); a later call picks up the rest.
 */
export interface RemoveTreeOptions {
  /** Runs before every single removal; may throw to stop (the delete guard). */
  beforeEach?: () => void;
  /** Wraps the removals inside one directory (DestTree.writable, for read-only directories). */
  writable?: <T>(dirFd: number, fn: () => Promise<T>) => Promise<T>;
}

export async function removeTree(parentFd: number, name: Buffer, opts: RemoveTreeOptions = {}): Promise<number> {
  const beforeEach = opts.beforeEach ?? ((): void => undefined);
  const writable = opts.writable ?? (<T>(_fd: number, fn: () => Promise<T>): Promise<T> => fn());
  const st = await lstatAt(parentFd, name);
  if (st === null) return 0;
  let removed = 0;
  if (st.isDirectory()) {
    let fd: number | undefined;
    try {
      fd = await openDirAt(parentFd, name);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return 0;
      if (code !== 'ELOOP' && code !== 'ENOTDIR') throw err;
    }
    if (fd !== undefined) {
      try {
        const dirFd = fd;
        await writable(dirFd, async () => {
          for (const child of await readdirFd(dirFd)) removed += await removeTree(dirFd, child, opts);
        });
      } finally {
        await closeFd(fd);
      }
      beforeEach();
      await ignoreEnoent(rmdirAt(parentFd, name));
      return removed + 1;
    }
  }
  beforeEach();
  await ignoreEnoent(unlinkAt(parentFd, name));
  return removed + 1;
}

async function ignoreEnoent(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
}
