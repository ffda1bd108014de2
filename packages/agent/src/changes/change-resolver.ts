import type { ChangeFacts, V03Identity } from '@hpcmirror/core';
import type { ChangeIntent } from './change-intent.js';
import { isDirMode, isLinkMode, isRegMode, lstatPath, readlinkPath, statKey, type FileStat } from './file-stat.js';
import { COD_IDENTITY, hashBytes, hashFile, type IdentityMethod } from './identity.js';
import { inlineContent, readVersion } from './inline-content.js';

/** ChangeFacts without what the publisher adds (baseUrl, pubTime, hpcm_* fields). */
export type ResolvedFacts = Omit<ChangeFacts, 'baseUrl' | 'pubTimeNs' | 'extra'>;

export interface ResolvedChange {
  facts: ResolvedFacts;
  eventNs: bigint;
  /** A whole directory arrived: ask for a scan of it (its content was never announced). */
  scanDir?: Buffer;
}

export interface ChangeResolverOptions {
  identity: IdentityMethod;
  /** Regular files up to this size are read and announced with their bytes (v03 `content`); 0 = never. */
  inlineMaxBytes?: number;
  stat?: (path: Buffer) => Promise<FileStat | undefined>;
  readlink?: (path: Buffer) => Promise<Buffer | undefined>;
  hash?: (path: Buffer, method: 'sha512' | 'md5') => Promise<string | undefined>;
  /** The bytes of exactly this version of the file, or undefined. */
  readVersion?: (path: Buffer, st: FileStat) => Buffer | undefined;
}

const toFactsStat = (s: FileStat): NonNullable<ChangeFacts['stat']> => ({
  size: Number(s.size), mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino, mode: s.mode,
});

/**
 * Looks at the file system as little as it can: the shim's fstat is used as is; an lstat (and a
 * readlink for symlinks) only where the record does not say enough. A path that vanished meanwhile
 * is still announced from what the record says; the subscriber reconciles against the source.
 */
export class ChangeResolver {
  readonly #identity: IdentityMethod;
  readonly #stat: (path: Buffer) => Promise<FileStat | undefined>;
  readonly #readlink: (path: Buffer) => Promise<Buffer | undefined>;
  readonly #hash: (path: Buffer, method: 'sha512' | 'md5') => Promise<string | undefined>;
  readonly #inlineMax: bigint;
  readonly #readVersion: (path: Buffer, st: FileStat) => Buffer | undefined;

  constructor(o: ChangeResolverOptions) {
    this.#identity = o.identity;
    this.#stat = o.stat ?? lstatPath;
    this.#readlink = o.readlink ?? readlinkPath;
    this.#hash = o.hash ?? hashFile;
    this.#inlineMax = BigInt(o.inlineMaxBytes ?? 0);
    this.#readVersion = o.readVersion ?? readVersion;
  }

  async resolve(i: ChangeIntent): Promise<ResolvedChange> {
    const base = { path: i.path };
    const done = (facts: ResolvedFacts, scanDir?: Buffer): ResolvedChange => ({ facts, eventNs: i.eventNs, ...(scanDir && { scanDir }) });
    const withStat = (s: FileStat | undefined) => (s ? { stat: toFactsStat(s) } : {});
    switch (i.kind) {
      case 'remove':
        return done({ ...base, kind: 'remove' });
      case 'rmdir':
        return done({ ...base, kind: 'rmdir', isDirectory: true });
      case 'mkdir': {
        const st = i.freshStat || !i.stat ? ((await this.#stat(i.path)) ?? i.stat) : i.stat;
        return done({ ...base, kind: 'mkdir', isDirectory: true, ...withStat(st) });
      }
      case 'symlink': {
        const st = i.stat ?? (await this.#stat(i.path));
        return done({ ...base, kind: 'symlink', linkTarget: i.linkTarget ?? Buffer.alloc(0), ...withStat(st) });
      }
      case 'hardlink': {
        const st = i.freshStat || !i.stat ? ((await this.#stat(i.path)) ?? i.stat) : i.stat;
        return done({ ...base, kind: 'hardlink', hlinkTo: i.hlinkTo!, ...withStat(st) });
      }
      case 'rename': {
        const st = await this.#stat(i.path);
        const isDir = st ? isDirMode(st.mode) : (i.isDirectory ?? false);
        const isLink = st ? isLinkMode(st.mode) : (i.isSymlink ?? false);
        if (isLink) {
          const target = await this.#readlink(i.path);
          if (target) return done({ ...base, kind: 'symlink', oldPath: i.oldPath!, linkTarget: target, ...withStat(st) });
        }
        return done({ ...base, kind: 'rename', oldPath: i.oldPath!, isDirectory: isDir, ...withStat(st) });
      }
      case 'typed': {
        const st = i.freshStat || !i.stat ? ((await this.#stat(i.path)) ?? i.stat) : i.stat;
        if (!st) {
          return done(i.isDirectory ? { ...base, kind: 'mkdir', isDirectory: true } : { ...base, kind: 'content', identity: COD_IDENTITY });
        }
        if (isDirMode(st.mode)) {
          // Swapped with another directory, or moved in from outside the root: what is below it was never announced under this name.
          if (i.scanIfDirectory) return done({ ...base, kind: 'mkdir', isDirectory: true, subtree: true, ...withStat(st) }, i.path);
          return done({ ...base, kind: 'mkdir', isDirectory: true, ...withStat(st) });
        }
        if (isLinkMode(st.mode)) {
          const target = await this.#readlink(i.path);
          if (target) return done({ ...base, kind: 'symlink', linkTarget: target, ...withStat(st) });
        }
        return done(await this.#contentFacts(i.path, st));
      }
    }
  }

  async #contentFacts(path: Buffer, st: FileStat): Promise<ResolvedFacts> {
    const facts = { path, kind: 'content' as const, stat: toFactsStat(st) };
    const small = this.#inlineMax > 0n && isRegMode(st.mode) && st.size <= this.#inlineMax;
    const bytes = small ? this.#readVersion(path, st) : undefined;
    if (!bytes) return { ...facts, identity: await this.#identityOf(path, st) };
    // The bytes are exactly the announced version: their digest is its identity, no second read.
    const identity = this.#identity === 'cod' ? COD_IDENTITY : { method: this.#identity, value: hashBytes(bytes, this.#identity) };
    return { ...facts, identity, content: inlineContent(bytes) };
  }

  async #identityOf(path: Buffer, st: FileStat): Promise<V03Identity> {
    if (this.#identity === 'cod') return COD_IDENTITY;
    const digest = await this.#hash(path, this.#identity);
    // A digest of content that changed while we read it would name a version nobody has.
    if (digest === undefined || statKey(await this.#stat(path)) !== statKey(st)) return COD_IDENTITY;
    return { method: this.#identity, value: digest };
  }
}
