import { constants, fchmod, fchown, fsync, futimes, type BigIntStats } from 'node:fs';
import { chmod, chown, lchown, lutimes, utimes } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { SourceStat } from '../transports/transport.js';
import { at, closeFd, fdPath, fstatFd, openPathAt } from './at-ops.js';
import { precisionOf, sameMtime, utimeSeconds } from './times.js';

const fchmodP = promisify(fchmod);
const fchownP = promisify(fchown);
const futimesP = promisify(futimes);
const fsyncP = promisify(fsync);

export async function fsyncFd(fd: number): Promise<void> {
  await fsyncP(fd);
}

/** How destination entries get the source's metadata. */
export interface AttrPolicy {
  /** chown to the source uid/gid (root only, config `owner`). */
  chown: boolean;
}

const nowSeconds = (): number => Date.now() / 1000;

function modeOf(st: BigIntStats): number {
  return Number(st.mode) & 0o7777;
}

/** Sets owner, mode and mtime on an fd we hold (a temp file or a directory); owner first, since chown clears setuid. */
export async function setAttrsFd(fd: number, src: SourceStat, policy: AttrPolicy, current?: BigIntStats): Promise<boolean> {
  let changed = false;
  if (policy.chown && (!current || Number(current.uid) !== src.uid || Number(current.gid) !== src.gid)) {
    await fchownP(fd, src.uid, src.gid);
    changed = true;
  }
  if (!current || modeOf(current) !== src.mode || changed) {
    await fchmodP(fd, src.mode);
    changed = true;
  }
  if (!current || !sameMtime(current.mtimeNs, src.mtimeNs, precisionOf(src))) {
    await futimesP(fd, nowSeconds(), utimeSeconds(src.mtimeNs));
    changed = true;
  }
  return changed;
}

/**
 * Mode and owner of an existing file or directory we do not hold open, through an O_PATH handle on
 * the entry itself: if it was swapped for a symlink meanwhile the handle is the symlink, and nothing
 * is changed. Returns whether anything changed.
 */
export async function fixAttrsAt(dirFd: number, name: Buffer, src: SourceStat, policy: AttrPolicy, setMtime: boolean): Promise<boolean> {
  const fd = await openPathAt(dirFd, name);
  try {
    const st = await fstatFd(fd);
    const type = Number(st.mode) & constants.S_IFMT;
    if (type !== constants.S_IFREG && type !== constants.S_IFDIR) return false;
    let changed = false;
    const p = fdPath(fd);
    if (policy.chown && (Number(st.uid) !== src.uid || Number(st.gid) !== src.gid)) {
      await chown(p, src.uid, src.gid);
      changed = true;
    }
    if (modeOf(st) !== src.mode || changed) {
      await chmod(p, src.mode);
      changed = true;
    }
    if (setMtime && !sameMtime(st.mtimeNs, src.mtimeNs, precisionOf(src))) {
      await utimes(p, nowSeconds(), utimeSeconds(src.mtimeNs));
      changed = true;
    }
    return changed;
  } finally {
    await closeFd(fd);
  }
}

/** Owner and mtime of a symlink (its mode means nothing on Linux). */
export async function setSymlinkAttrsAt(dirFd: number, name: Buffer, src: SourceStat, policy: AttrPolicy, current?: BigIntStats): Promise<boolean> {
  let changed = false;
  const p = at(dirFd, name);
  if (policy.chown && (!current || Number(current.uid) !== src.uid || Number(current.gid) !== src.gid)) {
    await lchown(p, src.uid, src.gid);
    changed = true;
  }
  if (!current || !sameMtime(current.mtimeNs, src.mtimeNs, precisionOf(src))) {
    await lutimes(p, nowSeconds(), utimeSeconds(src.mtimeNs));
    changed = true;
  }
  return changed;
}
