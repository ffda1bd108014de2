import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { toFsPath } from './tree-order.js';

export interface WalkEntry {
  /** Relative to the walked directory (latin1). */
  rel: string;
  abs: string;
  stat: BigIntStats;
}

/** What the index remembers of an entry: type, and for files and symlinks size and mtime. */
export function entryKey(st: BigIntStats): string {
  if (st.isDirectory()) return 'd';
  const t = st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : 'o';
  return `${t} ${st.size} ${st.mtimeNs}`;
}

/**
 * Depth first, each directory's names in byte order (tree-order.ts), symlinks not followed. The
 * walked directory itself is not listed. Entries that vanish while being looked at are skipped.
 */
export function* walkTree(dir: string, relBase = ''): Generator<WalkEntry> {
  let names: Buffer[];
  try {
    names = readdirSync(toFsPath(dir), { encoding: 'buffer' });
  } catch {
    return;
  }
  names.sort(Buffer.compare);
  for (const n of names) {
    const name = n.toString('latin1');
    const abs = `${dir}/${name}`;
    const rel = relBase ? `${relBase}/${name}` : name;
    let st: BigIntStats;
    try {
      st = lstatSync(toFsPath(abs), { bigint: true });
    } catch {
      continue;
    }
    yield { rel, abs, stat: st };
    if (st.isDirectory()) yield* walkTree(abs, rel);
  }
}
