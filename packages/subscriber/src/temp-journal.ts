import { closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { Logger } from '@hpcmirror/core';
import { closeFd, lstatAt, readdirFd } from './dest/at-ops.js';
import type { DestTree } from './dest/dest-tree.js';
import { removeTree } from './dest/remove-tree.js';
import { components, joinUnder, pathKey, showPath } from './path-bytes.js';
import { isTempName, type TempNames } from './temp-names.js';

/** Another subscriber's temp file this old (ctime) is a leftover, not a copy in progress. */
export const FOREIGN_TEMP_STALE_MS = 60 * 60 * 1000;
const ROTATE_AFTER = 50_000;

/**
 * Where our temp files may be left behind by a crash. Before a temp file is created its directory is
 * appended to `<state_dir>/temp-dirs.log` (once per directory per journal epoch; a plain write, so it
 * survives a process crash). At startup those directories, and only those, are swept of our temp
 * names: no walk of the whole destination. Leftovers after a machine crash that lost the append are
 * found later by anti-entropy (isStaleTemp), which skips temp files still being written.
 */
export class TempJournal {
  readonly #file: string;
  readonly #names: TempNames;
  readonly #log: Logger;
  #fd: number | undefined;
  readonly #noted = new Set<string>();
  /** dir key -> temp names being written there now. */
  readonly #inFlight = new Map<string, Set<string>>();

  constructor(file: string, names: TempNames, logger: Logger) {
    this.#file = file;
    this.#names = names;
    this.#log = logger;
  }

  /** Sweeps the directories of the previous run, then starts a fresh journal. Returns temp entries removed. */
  async start(tree: DestTree): Promise<number> {
    let removed = 0;
    for (const rel of this.#readPrevious()) {
      removed += await this.#sweep(tree, rel).catch((err: unknown) => {
        this.#log.warn({ dir: showPath(joinUnder(tree.root, rel)), err: (err as Error).message }, 'could not sweep temp files');
        return 0;
      });
    }
    if (removed) this.#log.info({ removed }, 'removed temp files left by an earlier run');
    this.#rewrite([]);
    return removed;
  }

  stop(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  /** Records that a temp file `name` is about to be created in `rel`. */
  begin(rel: readonly Buffer[], name: Buffer): void {
    const key = relKey(rel);
    if (!this.#noted.has(key)) {
      if (this.#noted.size >= ROTATE_AFTER) this.#rewrite([...this.#inFlight.keys()]);
      this.#noted.add(key);
      if (this.#fd !== undefined) writeSync(this.#fd, journalLine(key));
    }
    let set = this.#inFlight.get(key);
    if (!set) this.#inFlight.set(key, (set = new Set()));
    set.add(pathKey(name));
  }

  end(rel: readonly Buffer[], name: Buffer): void {
    const key = relKey(rel);
    const set = this.#inFlight.get(key);
    set?.delete(pathKey(name));
    if (set?.size === 0) this.#inFlight.delete(key);
  }

  /** A temp-named entry that nobody is writing: ours and not in flight, or anyone's and long untouched. */
  isStale(rel: readonly Buffer[], name: Buffer, ctimeMs: number, nowMs: number): boolean {
    // While a fetch writes into this directory nothing temp-named there is stale: the rsync
    // transport's staging directory carries a name of its own, derived from the in-flight temp name.
    if (!isTempName(name) || (this.#inFlight.get(relKey(rel))?.size ?? 0) > 0) return false;
    return this.#names.isOurs(name) || nowMs - ctimeMs > FOREIGN_TEMP_STALE_MS;
  }

  #readPrevious(): Buffer[][] {
    let text = '';
    try {
      text = readFileSync(this.#file, 'latin1');
    } catch {
      return [];
    }
    const seen = new Set<string>();
    const out: Buffer[][] = [];
    for (const line of text.split('\n')) {
      // `d<hex of rel>`: the prefix keeps the root (empty rel) a non-empty line.
      if (!/^d[0-9a-f]*$/.test(line) || seen.has(line)) continue;
      seen.add(line);
      out.push(components(Buffer.from(line.slice(1), 'hex')));
    }
    return out;
  }

  async #sweep(tree: DestTree, rel: Buffer[]): Promise<number> {
    const dir = await tree.openDir(rel);
    if (!dir) return 0;
    let removed = 0;
    try {
      const now = Date.now();
      for (const name of await readdirFd(dir.fd)) {
        if (!isTempName(name)) continue;
        const st = await lstatAt(dir.fd, name);
        if (!st) continue;
        if (this.#names.isOurs(name) || now - Number(st.ctimeMs) > FOREIGN_TEMP_STALE_MS) {
          removed += await tree.writable(dir.fd, () => removeTree(dir.fd, name)) > 0 ? 1 : 0;
        }
      }
    } finally {
      await closeFd(dir.fd);
    }
    return removed;
  }

  /** Starts a new journal epoch holding only `keys` (directories with temp files in flight). */
  #rewrite(keys: string[]): void {
    const tmp = `${this.#file}.new`;
    const fd = openSync(tmp, 'w', 0o600);
    for (const k of keys) writeSync(fd, journalLine(k));
    closeSync(fd);
    renameSync(tmp, this.#file);
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = openSync(this.#file, 'a', 0o600);
    this.#noted.clear();
    for (const k of keys) this.#noted.add(k);
  }
}

function relKey(rel: readonly Buffer[]): string {
  return rel.map(pathKey).join('/');
}

function journalLine(key: string): string {
  return `d${Buffer.from(key, 'latin1').toString('hex')}\n`;
}
