import type { ListEntry, SourceStat, Transport } from '@hpcmirror/subscriber';

/** What audit found different about one path (relative to the roots, bytes). */
export interface Difference {
  path: Buffer;
  what: 'missing' | 'extra' | 'type' | 'size' | 'mtime' | 'mode' | 'target' | 'content' | 'hardlink';
  source?: string;
  destination?: string;
}

export interface CompareOptions {
  /** Allowed |mtime difference| in ns (the destination's utimes precision). */
  mtimeToleranceNs: bigint;
  checksum: boolean;
  /** Compare only this many randomly chosen paths (0 = all). */
  sample: number;
  /** Names that are the mirror's own work in progress (temp files) and not differences. */
  ignore?: (name: Buffer) => boolean;
  random?: () => number;
}

export interface CompareResult {
  compared: number;
  differences: Difference[];
}

const join = (dir: Buffer, name: Buffer): Buffer => (dir.length === 0 ? name : Buffer.concat([dir, Buffer.from('/'), name]));
const abs = (root: Buffer, rel: Buffer): Buffer => (rel.length === 0 ? root : Buffer.concat([root, Buffer.from('/'), rel]));
const modeStr = (m: number): string => (m & 0o7777).toString(8);

/** Compares one path present on both sides; pushes what differs. */
async function comparePair(rel: Buffer, s: SourceStat, d: SourceStat, src: Side, dst: Side, opts: CompareOptions, out: Difference[]): Promise<void> {
  if (s.type !== d.type) { out.push({ path: rel, what: 'type', source: s.type, destination: d.type }); return; }
  if (s.type === 'symlink') {
    const [a, b] = await Promise.all([src.t.readlink(abs(src.root, rel)), dst.t.readlink(abs(dst.root, rel))]);
    if (!a.equals(b)) out.push({ path: rel, what: 'target', source: a.toString(), destination: b.toString() });
    return;
  }
  if ((s.mode & 0o7777) !== (d.mode & 0o7777)) out.push({ path: rel, what: 'mode', source: modeStr(s.mode), destination: modeStr(d.mode) });
  if (s.type !== 'file') return;
  if (s.size !== d.size) { out.push({ path: rel, what: 'size', source: String(s.size), destination: String(d.size) }); return; }
  const tol = s.nsPrecision && d.nsPrecision ? opts.mtimeToleranceNs : 1_000_000_000n;
  const diff = s.mtimeNs > d.mtimeNs ? s.mtimeNs - d.mtimeNs : d.mtimeNs - s.mtimeNs;
  if (diff > tol) out.push({ path: rel, what: 'mtime', source: String(s.mtimeNs), destination: String(d.mtimeNs) });
  if (opts.checksum && src.t.checksum && dst.t.checksum) {
    const [a, b] = await Promise.all([src.t.checksum(abs(src.root, rel), 'sha512'), dst.t.checksum(abs(dst.root, rel), 'sha512')]);
    if (a !== b) out.push({ path: rel, what: 'content', source: a ?? 'gone', destination: b ?? 'gone' });
  }
}

export interface Side { t: Transport; root: Buffer }

/** Compares the given paths (relative to both roots) only; for `wait PATH...`. */
export async function comparePaths(source: Side, destination: Side, rels: Buffer[], opts: CompareOptions): Promise<Difference[]> {
  const out: Difference[] = [];
  const [ss, ds] = await Promise.all([
    source.t.stat(rels.map((r) => abs(source.root, r))),
    destination.t.stat(rels.map((r) => abs(destination.root, r))),
  ]);
  await Promise.all(rels.map(async (rel, i) => {
    const s = ss[i] ?? null;
    const d = ds[i] ?? null;
    if (!s && !d) return;
    if (!s) { out.push({ path: rel, what: 'extra' }); return; }
    if (!d) { out.push({ path: rel, what: 'missing' }); return; }
    await comparePair(rel, s, d, source, destination, opts, out);
  }));
  return out;
}

/**
 * Walks both trees one directory listing at a time (source through its transport, destination
 * through a local transport) and reports every path whose type, size, mtime, mode, link target,
 * hard-link grouping or (with checksum) content differs.
 */
export async function compareTrees(source: Side, destination: Side, opts: CompareOptions): Promise<CompareResult> {
  const differences: Difference[] = [];
  const pairs: { rel: Buffer; s: SourceStat; d: SourceStat }[] = [];
  const groups = new Map<string, { rel: Buffer; dIno: bigint }[]>();
  const ignore = opts.ignore ?? (() => false);
  const queue: Buffer[] = [Buffer.alloc(0)];
  let compared = 0;
  while (queue.length) {
    const rel = queue.shift()!;
    const [sl, dl] = await Promise.all([source.t.list(abs(source.root, rel)), destination.t.list(abs(destination.root, rel))]);
    const dmap = new Map<string, ListEntry>((dl ?? []).filter((e) => !ignore(e.name)).map((e) => [e.name.toString('latin1'), e]));
    for (const e of sl ?? []) {
      if (ignore(e.name)) continue;
      const key = e.name.toString('latin1');
      const childRel = join(rel, e.name);
      const d = dmap.get(key);
      dmap.delete(key);
      compared++;
      if (!d) { differences.push({ path: childRel, what: 'missing' }); continue; }
      pairs.push({ rel: childRel, s: e.stat, d: d.stat });
      if (e.stat.type === 'dir' && d.stat.type === 'dir') queue.push(childRel);
      if (e.stat.type === 'file' && e.stat.nlink > 1 && e.stat.ino !== 0n) {
        const k = `${e.stat.dev}:${e.stat.ino}`;
        groups.set(k, [...(groups.get(k) ?? []), { rel: childRel, dIno: d.stat.ino }]);
      }
    }
    for (const d of dmap.values()) { compared++; differences.push({ path: join(rel, d.name), what: 'extra' }); }
  }
  let chosen = pairs;
  if (opts.sample > 0 && pairs.length > opts.sample) {
    const rnd = opts.random ?? Math.random;
    chosen = pairs.map((p) => ({ p, k: rnd() })).sort((a, b) => a.k - b.k).slice(0, opts.sample).map((x) => x.p);
  }
  const limit = 16;
  for (let i = 0; i < chosen.length; i += limit) {
    await Promise.all(chosen.slice(i, i + limit).map((p) => comparePair(p.rel, p.s, p.d, source, destination, opts, differences)));
  }
  for (const members of groups.values()) {
    if (members.length > 1 && new Set(members.map((m) => m.dIno)).size > 1) {
      differences.push({ path: members[0]!.rel, what: 'hardlink', source: `${members.length} names share one inode`, destination: 'split' });
    }
  }
  return { compared, differences };
}
