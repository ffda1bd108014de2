import { closeSync, fsyncSync, openSync, readSync, renameSync, writeSync, constants, existsSync, unlinkSync } from 'node:fs';
import { dfsCompare } from './tree-order.js';

const escape = (s: string): string => s.replace(/[%\n\t]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
const unescape = (s: string): string => (s.includes('%') ? s.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : s);

export interface IndexEntry {
  rel: string;
  /** entryKey(): what was last announced for this path. */
  key: string;
}

/** Lines of a latin1 file, read in chunks (the base index is never held whole). */
function* fileLines(file: string): Generator<string> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return;
  }
  try {
    const buf = Buffer.alloc(1 << 20);
    let rest = '';
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + buf.toString('latin1', 0, n);
      const lines = text.split('\n');
      rest = lines.pop()!;
      yield* lines;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * What the watcher last announced for each path of one tree, on disk: a base file (one line per
 * entry, depth-first order: `path \t key`) rewritten by every rescan, and an append-only journal of
 * what was announced since (`+path \t key`, `-path` = that path and everything below it is gone).
 * Only the journal is read into memory, and only during a rescan; a rescan rewrites the base and
 * empties the journal, and one is due once the journal holds `compactAfter` lines.
 */
export class TreeIndex {
  readonly #base: string;
  readonly #journal: string;
  #fd = -1;
  #pending: string[] = [];
  journalLines = 0;

  constructor(file: string) {
    this.#base = file;
    this.#journal = `${file}.journal`;
  }

  /** No base yet: the tree was never indexed. */
  get exists(): boolean {
    return existsSync(this.#base);
  }

  open(): void {
    if (this.#fd >= 0) return;
    this.journalLines = 0;
    if (existsSync(this.#journal)) for (const l of fileLines(this.#journal)) if (l) this.journalLines++;
    this.#fd = openSync(this.#journal, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  }

  set(rel: string, key: string): void {
    this.#pending.push(`+${escape(rel)}\t${key}\n`);
  }

  remove(rel: string): void {
    this.#pending.push(`-${escape(rel)}\n`);
  }

  /** Appends what set()/remove() noted; called after the matching spool records are written. */
  flush(): void {
    if (!this.#pending.length || this.#fd < 0) return;
    writeSync(this.#fd, this.#pending.join(''), null, 'latin1');
    this.journalLines += this.#pending.length;
    this.#pending = [];
  }

  close(): void {
    this.flush();
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  /** The announced state, base and journal merged, depth first. */
  *entries(): Generator<IndexEntry> {
    this.flush();
    const latest = new Map<string, { key: string | undefined; n: number }>();
    const drops = new Map<string, number>();
    let n = 0;
    for (const line of fileLines(this.#journal)) {
      if (!line) continue;
      n++;
      if (line[0] === '+') {
        const tab = line.indexOf('\t');
        latest.set(unescape(line.slice(1, tab)), { key: line.slice(tab + 1), n });
      } else if (line[0] === '-') {
        const rel = unescape(line.slice(1));
        latest.set(rel, { key: undefined, n });
        drops.set(rel, n);
      }
    }
    const dropOf = (rel: string): number => {
      if (!drops.size) return 0;
      let best = drops.get(rel) ?? 0;
      for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) best = Math.max(best, drops.get(rel.slice(0, i)) ?? 0);
      return best;
    };
    const effective = (rel: string, baseKey: string | undefined): string | undefined => {
      const j = latest.get(rel);
      const d = dropOf(rel);
      if (j && j.n > d) return j.key;
      return d > 0 ? undefined : baseKey;
    };
    const journalOnly = [...latest.keys()].sort(dfsCompare);
    let ji = 0;
    for (const line of fileLines(this.#base)) {
      if (!line) continue;
      const tab = line.indexOf('\t');
      const rel = unescape(line.slice(0, tab));
      while (ji < journalOnly.length && dfsCompare(journalOnly[ji]!, rel) < 0) {
        const r = journalOnly[ji++]!;
        const k = effective(r, undefined);
        if (k !== undefined) yield { rel: r, key: k };
      }
      if (ji < journalOnly.length && journalOnly[ji] === rel) ji++;
      const k = effective(rel, line.slice(tab + 1));
      if (k !== undefined) yield { rel, key: k };
    }
    while (ji < journalOnly.length) {
      const r = journalOnly[ji++]!;
      const k = effective(r, undefined);
      if (k !== undefined) yield { rel: r, key: k };
    }
  }

  /** Writes a new base (entries in depth-first order); commit() puts it in place. */
  rewrite(): IndexRewrite {
    return new IndexRewrite(this.#base, () => {
      // The journal's content is in the new base now.
      if (this.#fd >= 0) closeSync(this.#fd);
      this.#fd = -1;
      try { unlinkSync(this.#journal); } catch { /* absent */ }
      this.#pending = [];
      this.open();
    });
  }
}

export class IndexRewrite {
  readonly #file: string;
  readonly #tmp: string;
  readonly #fd: number;
  readonly #done: () => void;
  #buf: string[] = [];
  #bytes = 0;
  count = 0;

  constructor(file: string, done: () => void) {
    this.#file = file;
    this.#tmp = `${file}.${process.pid}.tmp`;
    this.#fd = openSync(this.#tmp, 'w', 0o600);
    this.#done = done;
  }

  add(rel: string, key: string): void {
    const l = `${escape(rel)}\t${key}\n`;
    this.#buf.push(l);
    this.#bytes += l.length;
    this.count++;
    if (this.#bytes > 1 << 20) this.#spill();
  }

  #spill(): void {
    writeSync(this.#fd, this.#buf.join(''), null, 'latin1');
    this.#buf = [];
    this.#bytes = 0;
  }

  commit(): void {
    this.#spill();
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    renameSync(this.#tmp, this.#file);
    this.#done();
  }

  abort(): void {
    closeSync(this.#fd);
    try { unlinkSync(this.#tmp); } catch { /* gone */ }
  }
}

