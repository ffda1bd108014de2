import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** One entry of a tree snapshot: what the mirror promises to reproduce. */
export interface EntrySnapshot {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  /** mtime truncated to the microsecond (the precision the mirror achieves). */
  mtimeUs: bigint;
  size: number;
  /** sha1 of a file, target of a symlink. */
  content: string;
  /** Index of the hard-link group among files with nlink > 1 (by first path seen), else -1. */
  linkGroup: number;
}

/** Walks `root` (bytes all the way) into a map keyed by the latin1 relative path. */
export function snapshotTree(root: string, opts: { dirMtimes?: boolean; skip?: (rel: string) => boolean } = {}): Map<string, EntrySnapshot> {
  const out = new Map<string, EntrySnapshot>();
  const groups = new Map<string, number>();
  const walk = (dir: Buffer, rel: string): void => {
    for (const name of readdirSync(dir, { encoding: 'buffer' })) {
      const p = Buffer.concat([dir, Buffer.from('/'), name]);
      const r = rel ? `${rel}/${name.toString('latin1')}` : name.toString('latin1');
      if (opts.skip?.(r)) continue;
      const st = lstatSync(p, { bigint: true });
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      let content = '';
      let linkGroup = -1;
      if (type === 'file') {
        content = createHash('sha1').update(readFileSync(p)).digest('hex');
        if (st.nlink > 1n) {
          const key = `${st.dev}:${st.ino}`;
          if (!groups.has(key)) groups.set(key, groups.size);
          linkGroup = groups.get(key)!;
        }
      } else if (type === 'symlink') {
        content = readlinkSync(p, { encoding: 'buffer' }).toString('latin1');
      }
      out.set(r, {
        type,
        mode: type === 'symlink' ? 0 : Number(st.mode) & 0o7777,
        mtimeUs: type === 'dir' && !opts.dirMtimes ? 0n : st.mtimeNs / 1000n,
        size: type === 'file' ? Number(st.size) : 0,
        content,
        linkGroup,
      });
      if (type === 'dir') walk(p, r);
    }
  };
  walk(Buffer.from(root), '');
  return out;
}

/** Human-readable differences between two snapshots (empty when identical). */
export function diffTrees(a: Map<string, EntrySnapshot>, b: Map<string, EntrySnapshot>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w) out.push(`missing: ${k}`);
    else {
      for (const f of ['type', 'mode', 'mtimeUs', 'size', 'content'] as const) {
        if (v[f] !== w[f]) out.push(`${k}: ${f} ${String(v[f])} != ${String(w[f])}`);
      }
      if ((v.linkGroup < 0) !== (w.linkGroup < 0)) out.push(`${k}: hard-link grouping differs`);
    }
  }
  for (const k of b.keys()) if (!a.has(k)) out.push(`extra: ${k}`);
  return out;
}

/** Hard-link groups as sets of paths, to compare grouping between two trees. */
export function linkGroups(snap: Map<string, EntrySnapshot>): string[][] {
  const g = new Map<number, string[]>();
  for (const [k, v] of snap) if (v.linkGroup >= 0) g.set(v.linkGroup, [...(g.get(v.linkGroup) ?? []), k]);
  return [...g.values()].map((x) => x.sort()).sort((x, y) => x[0]!.localeCompare(y[0]!));
}
