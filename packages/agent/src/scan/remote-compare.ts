/**
 * Compare against a destination seen only through a DestinationLister (the remote helper over
 * ssh): the walker lists the source with --dir-records; entries wait here per directory until
 * their DIR record, then that directory's destination listing is fetched (a few at a time) and
 * compared. Memory: the entries of directories in flight, bounded by runScan's backpressure.
 */
import type { DestinationLister } from './destination-lister.js';
import type { ExcludeMatcher } from './glob-match.js';
import { baseName, compareListing } from './listing-compare.js';
import type { DirDoneRecord, ScanEntry, ScanIssue } from './scan-records.js';

export interface DestinationTree {
  /** Absolute root of the destination tree, as the lister sees it. */
  root: string;
  lister: DestinationLister;
  /** Directory listings requested at once (default 16). */
  concurrency?: number;
}

export interface RemoteCompareOptions {
  mtimeToleranceNs: number;
  compareDirTimes: boolean;
  compareOwner: boolean;
  exclude: ExcludeMatcher;
}

function parentKey(relPath: Buffer): string {
  const name = baseName(relPath);
  return relPath.subarray(0, Math.max(0, relPath.length - name.length - 1)).toString('latin1');
}

function errnoOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

export class RemoteComparer {
  readonly #tree: DestinationTree;
  readonly #root: Buffer;
  readonly #opts: RemoteCompareOptions;
  readonly #byDir = new Map<string, ScanEntry[]>();
  readonly #waiters: (() => void)[] = [];
  #active = 0;
  #buffered = 0;

  constructor(tree: DestinationTree, opts: RemoteCompareOptions) {
    this.#tree = tree;
    this.#root = Buffer.from(tree.root.replace(/\/+$/, '') || '/');
    this.#opts = opts;
  }

  /** Source entries held while their directory's comparison is pending. */
  get buffered(): number {
    return this.#buffered;
  }

  add(entry: ScanEntry): void {
    const k = parentKey(entry.relPath);
    const list = this.#byDir.get(k);
    if (list) list.push(entry);
    else this.#byDir.set(k, [entry]);
    this.#buffered++;
  }

  /** Compares one finished directory; resolves once every difference was delivered and settled. */
  async finishDir(rec: DirDoneRecord, deliver: (e: ScanEntry) => unknown, report: (issue: ScanIssue) => void): Promise<void> {
    const k = rec.relPath.toString('latin1');
    const src = this.#byDir.get(k) ?? [];
    this.#byDir.delete(k);
    try {
      if (!rec.complete) return; // the walker reported why; a partial listing would invent extras
      const abs = (rel: Buffer): Buffer => (rel.length === 0 ? this.#root : Buffer.concat([this.#root, this.#root.length > 1 ? Buffer.from('/') : Buffer.alloc(0), rel]));
      let dst;
      try {
        dst = await this.#limit(() => this.#tree.lister.list(abs(rec.relPath)));
      } catch (err) {
        report({ side: 'destination', op: 'read', code: errnoOf(err), relPath: rec.relPath });
        return;
      }
      const diffs = await compareListing(rec.relPath, src, dst, {
        ...this.#opts,
        mtimeToleranceNs: BigInt(this.#opts.mtimeToleranceNs),
        readDestinationLink: (rel) => this.#limit(() => this.#tree.lister.readlink(abs(rel))),
      });
      const settling: Promise<unknown>[] = [];
      for (const d of diffs) {
        const r = deliver(d);
        if (r && typeof (r as Promise<unknown>).then === 'function') settling.push(r as Promise<unknown>);
      }
      await Promise.all(settling);
    } finally {
      this.#buffered -= src.length;
    }
  }

  async #limit<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#active >= (this.#tree.concurrency ?? 16)) await new Promise<void>((r) => this.#waiters.push(r));
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      this.#waiters.shift()?.();
    }
  }
}
