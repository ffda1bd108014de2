import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@hpcmirror/core';
import type { SourceStat } from '../transports/transport.js';
import { constants } from 'node:fs';
import { at, closeFd, errnoOf, openAt } from './at-ops.js';

/**
 * Which source file a destination copy was made from, kept in an extended attribute on the copy
 * itself (written on the temp file before its rename, so it travels with the copy through renames
 * and hard links on the destination, and every subscriber instance sees it).
 *
 * Why: size + mtime alone take a re-created source file (rm + `tar -x`, `cp -p`, a restore tool that
 * sets the old mtime) for the version already copied; its inode tells them apart.
 */
export const SOURCE_RECORD_XATTR = 'user.hpcm.src';

export interface SourceRecord {
  dev: bigint;
  ino: bigint;
  ctimeNs: bigint;
}

/**
 * - `same`: the copy was made from this very source version (inode and ctime).
 * - `other`: it was made from another inode: stale whatever its size and mtime say.
 * - `maybe`: same inode, another ctime. Either only metadata moved (chmod, rename, a new hard link),
 *   or the inode number was reused (ext4 hands a freed inode to the next file at once: rm + re-create
 *   keeps the number), or the file was rewritten in place and its old mtime put back. Only the
 *   content can tell: the caller compares checksums (or fetches).
 * - `unknown`: no record (a copy made before records existed, or by someone else; a file system
 *   without user xattrs) or a source stat without inodes (SFTP fallback): size + mtime decide, as before.
 *
 * The device is not compared: device numbers of one file system can change across a remount or a
 * reboot of the source, which must not make every copy look stale.
 */
export type RecordVerdict = 'same' | 'other' | 'maybe' | 'unknown';

export function recordVerdict(rec: SourceRecord | null, S: SourceStat): RecordVerdict {
  if (rec === null || S.ino === 0n || rec.ino === 0n) return 'unknown';
  if (rec.ino !== S.ino) return 'other';
  return rec.ctimeNs === S.ctimeNs ? 'same' : 'maybe';
}

const VERSION = '1';

export function encodeRecord(S: Pick<SourceStat, 'dev' | 'ino' | 'ctimeNs'>): Buffer {
  return Buffer.from(`${VERSION} ${S.dev} ${S.ino} ${S.ctimeNs}`);
}

export function decodeRecord(value: Buffer): SourceRecord | null {
  const m = /^1 (\d{1,20}) (\d{1,20}) (\d{1,20})$/.exec(value.toString('latin1'));
  if (!m) return null;
  return { dev: BigInt(m[1]!), ino: BigInt(m[2]!), ctimeNs: BigInt(m[3]!) };
}

/** The native calls (packages/subscriber/native, `make -C packages/subscriber/native`). */
export interface XattrCalls {
  setFd(fd: number, name: string, value: Buffer): Promise<void>;
  get(path: Buffer, name: string): Promise<Buffer | null>;
}

/** native/build of this checkout: src/dest and dist/dest sit at the same depth. HPCM_XATTR_ADDON overrides it. */
export function defaultXattrAddon(env: NodeJS.ProcessEnv = process.env): string {
  return env.HPCM_XATTR_ADDON || fileURLToPath(new URL('../../native/build/hpcm-xattr.node', import.meta.url));
}

export function loadXattrCalls(path = defaultXattrAddon()): XattrCalls | Error {
  try {
    return createRequire(import.meta.url)(path) as XattrCalls;
  } catch (err) {
    return err as Error;
  }
}

export interface SourceRecords {
  /** Records S on a file we hold open (a temp file, before its mode is set: user xattrs need write permission). */
  write(fd: number, S: SourceStat): Promise<void>;
  /**
   * Records S on an existing copy found to hold S's content (best effort: without root a read-only
   * copy refuses, and the content is compared again next time).
   */
  refresh(dirFd: number, name: Buffer, S: SourceStat): Promise<void>;
  /** The record of dir/name; null when there is none or it cannot be read. */
  read(dirFd: number, name: Buffer): Promise<SourceRecord | null>;
}

const UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP']);

/**
 * Records in `user.hpcm.src`. Without the native calls, or on a destination file system without
 * user xattrs, it says so once (warn) and records nothing: comparisons fall back to size + mtime.
 */
export function createSourceRecords(logger: Logger, calls: XattrCalls | Error = loadXattrCalls()): SourceRecords {
  let native: XattrCalls | null = calls instanceof Error ? null : calls;
  if (calls instanceof Error) {
    logger.warn({ err: calls.message }, 'source records: xattr calls unavailable (build them: make -C packages/subscriber/native); a source file re-created with the size and mtime of the mirrored copy will not be noticed');
  }
  const disable = (err: unknown): void => {
    if (native === null) return;
    native = null;
    logger.warn({ err: (err as Error).message }, 'source records: the destination file system takes no user xattrs; a source file re-created with the size and mtime of the mirrored copy will not be noticed');
  };
  const write = async (fd: number, S: SourceStat): Promise<void> => {
    if (native === null || S.ino === 0n) return;
    try {
      await native.setFd(fd, SOURCE_RECORD_XATTR, encodeRecord(S));
    } catch (err) {
      if (UNSUPPORTED.has(errnoOf(err) ?? '')) disable(err);
      else logger.debug({ err: (err as Error).message }, 'source records: not written (the copy will be compared by content)');
    }
  };
  return {
    write,
    async refresh(dirFd, name, S) {
      if (native === null || S.ino === 0n) return;
      let fd: number;
      try {
        fd = await openAt(dirFd, name, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch {
        return;
      }
      try {
        await write(fd, S);
      } finally {
        await closeFd(fd);
      }
    },
    async read(dirFd, name) {
      if (native === null) return null;
      try {
        const value = await native.get(at(dirFd, name), SOURCE_RECORD_XATTR);
        return value === null ? null : decodeRecord(value);
      } catch (err) {
        if (UNSUPPORTED.has(errnoOf(err) ?? '')) disable(err);
        return null;
      }
    },
  };
}
