import type { Announcement } from '@hpcmirror/core';
import { hashBytes, hashString, seedOf } from './hash53.js';

/**
 * Keys of the per-path state (semantics.md "Winnow"). The path key names the cache entry; the
 * change key says what the message announces, so two messages with equal change keys for one path
 * are duplicates. Both are 53-bit hashes: the cache holds numbers, never path bytes.
 *
 * change key = operation + (real checksum | size + mtime_ns + ctime_ns + inode) + mode, and for
 * link operations the target, so that `ln -sf` re-pointing a link is never a duplicate and a
 * re-create with an old mtime (cp -p, tar -x) differs by ctime and inode. A checksum key still
 * carries mtime and mode: the destination must follow a touch or a chmod of unchanged content.
 */
const PATH_SEED = 0;
const SALT_SEED = 0x5bd1e995;
const REAL_CHECKSUMS = new Set(['sha512', 'md5']);

export function pathKeyOf(path: Uint8Array): number {
  return hashBytes(path, PATH_SEED);
}

/** A second, independent hash of the path: tells apart paths that collide on the path key. */
export function pathCheckOf(path: Uint8Array): number {
  return hashBytes(path, SALT_SEED);
}

/**
 * remove, rmdir and rename (also a symlink moved by rename) end a path's history, and so does a
 * directory whose whole subtree changed (`hpcm_subtree`): never suppressed.
 */
export function clearsPath(a: Pick<Announcement, 'kind' | 'oldPath' | 'subtree'>): boolean {
  return a.kind === 'remove' || a.kind === 'rmdir' || a.kind === 'rename' || a.oldPath !== undefined || a.subtree;
}

/** undefined when the message carries nothing to compare on: such a message is never a duplicate. */
export function changeKeyOf(a: Announcement, pathCheck = pathCheckOf(a.path)): number | undefined {
  const fields = keyFields(a);
  if (fields === undefined) return undefined;
  // Seeded by the path check: paths that collide on the path key still differ here.
  return hashString(fields, seedOf(pathCheck));
}

/** The decimal strings as received when present (the codec checked them), else the decoded values. */
function statFields(a: Announcement): string {
  const b = a.body;
  return `${a.size ?? ''}|${b.hpcm_mtimeNs ?? a.mtimeNs ?? ''}|${b.hpcm_ctimeNs ?? ''}|${b.hpcm_ino ?? ''}|${a.mode ?? ''}`;
}

function bytesField(b: Buffer | undefined): string {
  return b === undefined ? '-' : `${b.length}:${b.toString('latin1')}`;
}

function keyFields(a: Announcement): string | undefined {
  if (clearsPath(a)) return undefined;
  switch (a.kind) {
    case 'content': {
      const id = a.identity;
      if (id !== undefined && REAL_CHECKSUMS.has(id.method) && id.value !== '') {
        return `c|${id.method}:${id.value}|${a.body.hpcm_mtimeNs ?? a.mtimeNs ?? ''}|${a.mode ?? ''}`;
      }
      // "this path changed; go and look" with no stat: nothing proves a duplicate.
      if (a.mtimeNs === undefined) return undefined;
      return `c|${statFields(a)}`;
    }
    case 'symlink':
      return `l|${bytesField(a.linkTarget)}|${statFields(a)}`;
    case 'hardlink':
      return `h|${bytesField(a.hlinkTo)}|${statFields(a)}`;
    case 'mkdir':
      return `d|${statFields(a)}`;
    default:
      return undefined;
  }
}
