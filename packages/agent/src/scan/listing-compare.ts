/**
 * The walker's compare rule applied to a source directory's entries and a destination listing
 * (used when the destination is only reachable through a DestinationLister). Same rule as
 * hpcm-scan --compare: type; files size and mtime (within the tolerance); symlink targets;
 * permission bits except on symlinks; optionally directory mtimes and owners. An extra directory
 * stands for its whole subtree.
 */
import type { DestinationEntry } from './destination-lister.js';
import type { ExcludeMatcher } from './glob-match.js';
import type { ScanDifference, ScanEntry } from './scan-records.js';

export interface ListingCompareOptions {
  mtimeToleranceNs: bigint;
  compareDirTimes: boolean;
  compareOwner: boolean;
  exclude: ExcludeMatcher;
  /** Reads a destination symlink's target, by path relative to the roots. */
  readDestinationLink: (relPath: Buffer) => Promise<Buffer>;
}

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000, other: 0 } as const;

function childPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, Buffer.from('/'), name]);
}

export function baseName(relPath: Buffer): Buffer {
  const slash = relPath.lastIndexOf(0x2f);
  return slash < 0 ? relPath : relPath.subarray(slash + 1);
}

async function differences(src: ScanEntry, dst: DestinationEntry, o: ListingCompareOptions): Promise<ScanDifference[]> {
  if (src.type !== dst.stat.type) return ['type'];
  const diff: ScanDifference[] = [];
  let dm = src.stat.mtimeNs - dst.stat.mtimeNs;
  if (dm < 0n) dm = -dm;
  if (src.type === 'file') {
    if (src.stat.size !== dst.stat.size) diff.push('size');
    if (dm > o.mtimeToleranceNs) diff.push('mtime');
  } else if (src.type === 'dir' && o.compareDirTimes && dm > o.mtimeToleranceNs) {
    diff.push('mtime');
  }
  if (src.type === 'symlink') {
    // A target that cannot be read (gone meanwhile) counts as different: announcing is only a hint.
    const target = src.stat.size === dst.stat.size ? await o.readDestinationLink(src.relPath).catch(() => undefined) : undefined;
    if (!target || !src.target?.equals(target)) diff.push('target');
  } else if ((src.stat.mode & 0o7777) !== (dst.stat.mode & 0o7777)) {
    diff.push('mode');
  }
  if (o.compareOwner && (src.stat.uid !== dst.stat.uid || src.stat.gid !== dst.stat.gid)) diff.push('owner');
  return diff;
}

/** `dst` null: the destination has no such directory, so every source entry is new. */
export async function compareListing(dir: Buffer, src: ScanEntry[], dst: DestinationEntry[] | null, o: ListingCompareOptions): Promise<ScanEntry[]> {
  const out: ScanEntry[] = [];
  const onDst = new Map<string, DestinationEntry>();
  for (const d of dst ?? []) onDst.set(d.name.toString('latin1'), d);
  for (const s of src) {
    const k = baseName(s.relPath).toString('latin1');
    const d = onDst.get(k);
    onDst.delete(k);
    if (!d) {
      out.push({ ...s, reason: 'new', differs: [] });
      continue;
    }
    const differs = await differences(s, d, o);
    if (differs.length > 0) out.push({ ...s, reason: 'changed', differs });
  }
  for (const d of onDst.values()) {
    const relPath = childPath(dir, d.name);
    if (o.exclude(d.name, relPath)) continue;
    out.push({
      reason: 'extra',
      type: d.stat.type,
      relPath,
      differs: [],
      stat: {
        mode: TYPE_BITS[d.stat.type] | (d.stat.mode & 0o7777),
        nlink: 0,
        size: d.stat.size,
        mtimeNs: d.stat.mtimeNs,
        ctimeNs: 0n,
        ino: 0n,
        dev: 0n,
        uid: d.stat.uid,
        gid: d.stat.gid,
      },
    });
  }
  return out;
}
