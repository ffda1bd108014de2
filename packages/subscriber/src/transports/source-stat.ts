import { constants, type BigIntStats } from 'node:fs';
import type { SourceFileType, SourceStat } from './transport.js';

export function fileTypeOfMode(mode: number): SourceFileType {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFREG:
      return 'file';
    case constants.S_IFDIR:
      return 'dir';
    case constants.S_IFLNK:
      return 'symlink';
    default:
      return 'other';
  }
}

/** A SourceStat from an `lstat(path, { bigint: true })` result. */
export function sourceStatFromBigInt(st: BigIntStats): SourceStat {
  const mode = Number(st.mode);
  return {
    type: fileTypeOfMode(mode),
    size: Number(st.size),
    mode: mode & 0o7777,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    ino: st.ino,
    dev: st.dev,
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    nsPrecision: true,
  };
}
