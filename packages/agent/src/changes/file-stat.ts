import type { BigIntStats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';

/** What the agent knows about a path's inode: the shim's fstat or its own lstat. */
export interface FileStat {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  /** st_mode: type and permission bits. */
  mode: number;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;

export const isDirMode = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR;
export const isLinkMode = (mode: number): boolean => (mode & S_IFMT) === S_IFLNK;
export const isRegMode = (mode: number): boolean => (mode & S_IFMT) === S_IFREG;

export const fileStatOf = (st: BigIntStats): FileStat =>
  ({ size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, mode: Number(st.mode) });

/** lstat with nanosecond times; undefined when the path is gone (or unreadable). */
export async function lstatPath(path: Buffer): Promise<FileStat | undefined> {
  try {
    return fileStatOf(await lstat(path, { bigint: true }));
  } catch {
    return undefined;
  }
}

export async function readlinkPath(path: Buffer): Promise<Buffer | undefined> {
  try {
    return await readlink(path, { encoding: 'buffer' });
  } catch {
    return undefined;
  }
}

/** Equal when a subscriber would see the same content version. */
export function statKey(s: FileStat | undefined): string {
  return s ? `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}` : 'gone';
}
