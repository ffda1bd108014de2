import { LRUCache } from 'lru-cache';
import { fromPathKey, pathKey } from './path-bytes.js';

const MAX_MEMBERS = 64;

/**
 * semantics.md "Hard links": (source dev, inode) -> the source paths known to share it, for files
 * with nlink > 1. After a content change the other members are re-linked to the new file, so a
 * rewrite does not split the group. Small and bounded (LRU); an entry is a hint, always re-checked
 * against the source before use.
 */
export class HardLinkIndex {
  readonly #groups: LRUCache<string, Set<string>>;

  constructor(maxGroups = 100_000) {
    this.#groups = new LRUCache({ max: maxGroups });
  }

  get size(): number {
    return this.#groups.size;
  }

  add(dev: bigint, ino: bigint, path: Buffer): void {
    const key = `${dev}:${ino}`;
    let g = this.#groups.get(key);
    if (!g) this.#groups.set(key, (g = new Set()));
    if (g.size < MAX_MEMBERS) g.add(pathKey(path));
  }

  /** Known members other than `except`. */
  members(dev: bigint, ino: bigint, except?: Buffer): Buffer[] {
    const g = this.#groups.get(`${dev}:${ino}`);
    if (!g) return [];
    const skip = except ? pathKey(except) : undefined;
    return [...g].filter((k) => k !== skip).map(fromPathKey);
  }

  drop(dev: bigint, ino: bigint, path: Buffer): void {
    const key = `${dev}:${ino}`;
    const g = this.#groups.get(key);
    g?.delete(pathKey(path));
    if (g?.size === 0) this.#groups.delete(key);
  }
}
