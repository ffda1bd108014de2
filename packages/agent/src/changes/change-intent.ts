import type { FileStat } from './file-stat.js';

/**
 * What the agent decided to announce about one path, before it looked at the file system.
 * `typed` means "this path changed": a fresh lstat decides between file (content change),
 * directory (mkdir) and symlink (link with its target).
 */
export interface ChangeIntent {
  kind: 'typed' | 'rename' | 'hardlink' | 'symlink' | 'remove' | 'rmdir' | 'mkdir';
  path: Buffer;
  eventNs: bigint;
  /** rename: old path. */
  oldPath?: Buffer;
  /** hardlink: the existing path. */
  hlinkTo?: Buffer;
  /** symlink: target, verbatim from the record. */
  linkTarget?: Buffer;
  /** Type hints from the record (flags), used when the path is gone before we can lstat it. */
  isDirectory?: boolean;
  isSymlink?: boolean;
  /** The shim's fstat: used as is (no lstat), e.g. at close. */
  stat?: FileStat;
  /** When set, lstat the path even if `stat` is given; `stat` is then only the fallback. */
  freshStat?: boolean;
  /** A directory that arrived from outside the root or an excluded name: scan it as a whole. */
  scanIfDirectory?: boolean;
}
