import { LRUCache } from 'lru-cache';
import type { HardLinkJournal, HardLinkMember } from './hard-link-journal.js';
import { fromPathKey, pathKey } from './path-bytes.js';

const MAX_MEMBERS = 64;

/**
 * semantics.md "Hard links": (source dev, inode) -> the source paths known to share it, for files
 * with nlink > 1. After a content change the other members are re-linked to the new file, so a
 * rewrite does not split the group. Small and bounded (LRU); an entry is a hint, always re-checked
 * against the source before use. With a journal it survives restarts (hard-link-journal.ts).
 */
export class HardLinkIndex {
  readonly #groups: LRUCache<string, Set<string>>;
  #journal: HardLinkJournal | undefined;
  /** Source devices seen: a message names an inode without its device (one or a few per source root). */
  readonly #devs = new Set<bigint>();
  /** Members in all groups (kept as groups come and go, evictions included). */
  #count = 0;

  constructor(maxGroups = 100_000) {
    this.#groups = new LRUCache({ max: maxGroups, dispose: (g) => { this.#count -= g.size; } });
  }

  get size(): number {
    return this.#groups.size;
  }

  /** Takes in what the journal kept from earlier runs, then records every later change in it. */
  attach(journal: HardLinkJournal): void {
    for (const m of journal.load()) this.#add(m.dev, m.ino, m.path);
    journal.rewrite(this.#members());
    this.#journal = journal;
  }

  add(dev: bigint, ino: bigint, path: Buffer): void {
    if (!this.#add(dev, ino, path) || !this.#journal) return;
    this.#journal.added({ dev, ino, path });
    this.#compact();
  }

  /** Known members other than `except`. */
  members(dev: bigint, ino: bigint, except?: Buffer): Buffer[] {
    const g = this.#groups.get(`${dev}:${ino}`);
    if (!g) return [];
    const skip = except ? pathKey(except) : undefined;
    return [...g].filter((k) => k !== skip).map(fromPathKey);
  }

  /** Known members of inode `ino` on any source device seen, other than `except`. */
  membersOfIno(ino: bigint, except?: Buffer): Buffer[] {
    return [...this.#devs].flatMap((dev) => this.members(dev, ino, except));
  }

  drop(dev: bigint, ino: bigint, path: Buffer): void {
    const key = `${dev}:${ino}`;
    const g = this.#groups.get(key);
    if (!g?.delete(pathKey(path))) return;
    this.#count--;
    if (g.size === 0) this.#groups.delete(key);
    if (!this.#journal) return;
    this.#journal.dropped({ dev, ino, path });
    this.#compact();
  }

  #add(dev: bigint, ino: bigint, path: Buffer): boolean {
    const key = `${dev}:${ino}`;
    this.#devs.add(dev);
    let g = this.#groups.get(key);
    if (!g) this.#groups.set(key, (g = new Set()));
    const k = pathKey(path);
    if (g.has(k) || g.size >= MAX_MEMBERS) return false;
    g.add(k);
    this.#count++;
    return true;
  }

  #compact(): void {
    if (this.#journal?.wantsRewrite(this.#count)) this.#journal.rewrite(this.#members());
  }

  *#members(): Generator<HardLinkMember> {
    // Least recently used first, so that a replay leaves the same order of eviction.
    for (const [key, g] of [...this.#groups.entries()].reverse()) {
      const [dev, ino] = key.split(':').map(BigInt) as [bigint, bigint];
      for (const k of g) yield { dev, ino, path: fromPathKey(k) };
    }
  }
}
