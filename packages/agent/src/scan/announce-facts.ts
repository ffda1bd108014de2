/**
 * What a scan entry asks the publisher to announce. The subscriber reconciles every announcement
 * against the source's current state, so a fact is a hint: "this path may differ".
 */
import type { ScanEntry, ScanReason, ScanStat } from './scan-records.js';

export type AnnounceFactKind = 'content' | 'symlink' | 'mkdir' | 'remove' | 'rmdir';

export interface AnnounceFact {
  kind: AnnounceFactKind;
  /** Absolute source path: root + '/' + relPath. */
  path: Buffer;
  relPath: Buffer;
  /** symlink: the target, verbatim. */
  linkTarget?: Buffer;
  /** The source's stat (absent for remove/rmdir: the source has no such path). */
  stat?: ScanStat;
  reason: ScanReason;
}

function joinRoot(root: Buffer, rel: Buffer): Buffer {
  const base = root.length > 1 && root[root.length - 1] === 0x2f ? root.subarray(0, -1) : root;
  if (base.length === 1 && base[0] === 0x2f) return Buffer.concat([base, rel]);
  return Buffer.concat([base, Buffer.from('/'), rel]);
}

/**
 * The fact for one entry, or undefined for what is not mirrored (sockets, fifos, devices).
 * An `extra` directory stands for its whole subtree: the walker does not descend into it.
 */
export function toAnnounceFact(entry: ScanEntry, sourceRoot: string | Buffer): AnnounceFact | undefined {
  const root = typeof sourceRoot === 'string' ? Buffer.from(sourceRoot) : sourceRoot;
  const path = joinRoot(root, entry.relPath);
  const base = { path, relPath: entry.relPath, reason: entry.reason };
  if (entry.reason === 'extra') return { ...base, kind: entry.type === 'dir' ? 'rmdir' : 'remove' };
  switch (entry.type) {
    case 'file':
      return { ...base, kind: 'content', stat: entry.stat };
    case 'dir':
      return { ...base, kind: 'mkdir', stat: entry.stat };
    case 'symlink':
      return { ...base, kind: 'symlink', stat: entry.stat, ...(entry.target ? { linkTarget: entry.target } : {}) };
    default:
      return undefined;
  }
}
