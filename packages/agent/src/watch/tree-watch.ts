import { lstatSync, readlinkSync, realpathSync, type BigIntStats } from 'node:fs';
import type { Logger } from 'pino';
import { describeError, HpcmError } from '@hpcmirror/core';
import { RecordFlag, type RecordStat } from '../spool/record.js';
import { CompletionTracker } from './completion-tracker.js';
import { NativeWatcher } from './native-watcher.js';
import { openForWriting } from './open-writers.js';
import type { SpoolWriter } from './spool-writer.js';
import type { TreeIndex } from './tree-index.js';
import { dfsCompare, isAtOrBelow, toFsPath } from './tree-order.js';
import { entryKey, walkTree, type WalkEntry } from './tree-walk.js';
import type { WatchEvent } from './watch-events.js';

export interface TreeWatchOptions {
  /** The watched directory as configured (latin1), under source_root. */
  dir: string;
  mode: 'inotify' | 'poll';
  index: TreeIndex;
  spool: SpoolWriter;
  stableMs: number;
  openQuietMs: number;
  compactAfter: number;
  nowMs: () => number;
  logger: Logger;
  binary: string;
  maxWatches?: number;
  onFailure: (err: HpcmError) => void;
  openWriters?: (paths: ReadonlySet<string>) => Set<string>;
}

export interface TreeWatchCounters {
  events: number;
  announced: number;
  rescans: number;
  overflows: number;
  lastRescanMs: number;
  lastRescanEntries: number;
}

const toRecordStat = (st: BigIntStats): RecordStat => ({
  size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev, mode: Number(st.mode), nlink: Number(st.nlink),
});

function lstatOrUndefined(abs: string): BigIntStats | undefined {
  try {
    return lstatSync(toFsPath(abs), { bigint: true });
  } catch {
    return undefined;
  }
}

/**
 * One watched tree: turns hpcm-watch events (or, in poll mode, periodic rescans) into spool
 * records, and keeps the tree's index of what was announced. Everything runs synchronously per
 * batch, so records follow the kernel's event order, and the index is written after the records
 * it describes (a crash in between announces again, never loses).
 */
export class TreeWatch {
  readonly #o: TreeWatchOptions;
  readonly #tracker: CompletionTracker;
  readonly counters: TreeWatchCounters = { events: 0, announced: 0, rescans: 0, overflows: 0, lastRescanMs: 0, lastRescanEntries: 0 };
  #native: NativeWatcher | undefined;
  /** hpcm-watch reports canonical paths; announcements use the configured spelling. */
  #canonical = '';

  constructor(o: TreeWatchOptions) {
    this.#o = o;
    this.#tracker = new CompletionTracker({
      stableMs: o.stableMs,
      openQuietMs: o.openQuietMs,
      nowMs: o.nowMs,
      complete: (abs, st) => this.#announce(abs, st, 'CHANGED'),
      openWriters: (paths) => this.#openWriters(paths),
    });
  }

  get dir(): string {
    return this.#o.dir;
  }

  get watches(): number {
    return this.#native?.watches ?? 0;
  }

  get pending(): number {
    return this.#tracker.size;
  }

  async start(): Promise<void> {
    const o = this.#o;
    o.index.open();
    this.#canonical = realpathSync(toFsPath(o.dir), { encoding: 'buffer' }).toString('latin1');
    if (o.mode === 'inotify') {
      this.#native = new NativeWatcher({
        dir: this.#canonical,
        binary: o.binary,
        ...(o.maxWatches !== undefined && { maxWatches: o.maxWatches }),
        onEvents: (events) => this.#onEvents(events),
        onFailure: o.onFailure,
      });
      // Watches first, then the startup comparison: whatever changes meanwhile is an event.
      await this.#native.start();
    }
    this.rescan('startup');
  }

  async stop(): Promise<void> {
    await this.#native?.stop();
    this.#native = undefined;
    this.#o.index.close();
  }

  /** Announces files that became complete; flushes the index journal. */
  sweep(): void {
    this.#tracker.sweep();
    this.#o.index.flush();
  }

  // ---- records -------------------------------------------------------------------------------

  #rel(abs: string): string {
    return abs === this.#o.dir ? '' : abs.slice(this.#o.dir.length + 1);
  }

  /** /proc names files by their canonical path. */
  #openWriters(paths: ReadonlySet<string>): Set<string> {
    const dir = this.#o.dir;
    const canon = new Map<string, string>();
    for (const p of paths) canon.set(p.startsWith(dir) ? this.#canonical + p.slice(dir.length) : p, p);
    const open = (this.#o.openWriters ?? openForWriting)(new Set(canon.keys()));
    return new Set([...open].map((c) => canon.get(c) ?? c));
  }

  #fromNative(p: string): string {
    return p.startsWith(this.#canonical) ? this.#o.dir + p.slice(this.#canonical.length) : p;
  }

  /** One record for the entry as it is now, by its type; the index then says it was announced. */
  #announce(abs: string, st: BigIntStats, fileOp: 'CLOSE_W' | 'CHANGED' | 'META'): void {
    const path = toFsPath(abs);
    const stat = toRecordStat(st);
    let ok: boolean;
    if (st.isDirectory()) {
      ok = this.#o.spool.write({ op: fileOp === 'META' ? 'META' : 'MKDIR', path, stat, flags: RecordFlag.DIR });
    } else if (st.isSymbolicLink()) {
      let target: Buffer;
      try {
        target = readlinkSync(path, { encoding: 'buffer' });
      } catch {
        return; // gone again: its removal is an event of its own
      }
      ok = this.#o.spool.write({ op: 'SYMLINK', path, path2: target, stat, flags: RecordFlag.SYMLINK });
    } else {
      ok = this.#o.spool.write({ op: fileOp, path, stat });
    }
    this.counters.announced++;
    if (ok) this.#o.index.set(this.#rel(abs), entryKey(st));
  }

  #announceRemove(abs: string, isDir: boolean): void {
    this.#o.spool.write({ op: isDir ? 'RMDIR' : 'UNLINK', path: toFsPath(abs), ...(isDir && { flags: RecordFlag.DIR }) });
    this.counters.announced++;
    this.#o.index.remove(this.#rel(abs));
    this.#tracker.removed(abs, isDir);
  }

  /**
   * A found entry: directories and symlinks are announced now, files once complete (tracker).
   * true when announced now.
   */
  #found(e: WalkEntry): boolean {
    if (e.stat.isFile()) {
      this.#tracker.changed(e.abs, e.stat, Number(e.stat.mtimeNs / 1_000_000n));
      return false;
    }
    this.#announce(e.abs, e.stat, 'CHANGED');
    return true;
  }

  /** A directory created or moved in: it and everything in it is new. */
  #newSubtree(abs: string): void {
    const st = lstatOrUndefined(abs);
    if (!st?.isDirectory()) return;
    this.#announce(abs, st, 'CHANGED');
    for (const e of walkTree(abs, this.#rel(abs))) this.#found({ ...e, abs: `${this.#o.dir}/${e.rel}` });
  }

  // ---- events --------------------------------------------------------------------------------

  #onEvents(events: WatchEvent[]): void {
    for (const ev of events) {
      this.counters.events++;
      try {
        this.#onEvent(ev);
      } catch (err) {
        this.#o.logger.warn({ err: describeError(err), event: ev.type }, 'watch event not handled; the next rescan catches it');
      }
    }
    this.#o.index.flush();
    if (this.#o.index.journalLines > this.#o.compactAfter) this.rescan('compact');
  }

  #onEvent(ev: WatchEvent): void {
    const abs = this.#fromNative(ev.path);
    switch (ev.type) {
      case 'close-write': {
        const st = lstatOrUndefined(abs);
        if (!st?.isFile()) return;
        this.#tracker.forget(abs);
        this.#announce(abs, st, 'CLOSE_W');
        return;
      }
      case 'modified': {
        const st = lstatOrUndefined(abs);
        if (!st) return;
        if (st.isFile()) this.#tracker.changed(abs, st);
        else this.#announce(abs, st, 'CHANGED');
        return;
      }
      case 'attrib': {
        if (this.#tracker.has(abs)) return; // its announcement is still to come, with the new state
        const st = lstatOrUndefined(abs);
        if (st) this.#announce(abs, st, 'META');
        return;
      }
      case 'mkdir':
        this.#newSubtree(abs);
        return;
      case 'moved-in': {
        if (ev.isDir) {
          this.#newSubtree(abs);
          return;
        }
        const st = lstatOrUndefined(abs);
        if (st) this.#announce(abs, st, 'CHANGED');
        return;
      }
      case 'deleted':
      case 'moved-out':
        this.#announceRemove(abs, ev.isDir);
        return;
      case 'renamed':
        this.#renamed(abs, this.#fromNative(ev.oldPath ?? ''), ev.isDir);
        return;
      case 'overflow':
        this.counters.overflows++;
        this.#o.logger.warn({ dir: this.#o.dir }, 'inotify queue overflowed: events were lost; rescanning the tree');
        this.rescan('overflow');
        return;
      case 'root-gone':
        this.#o.onFailure(new HpcmError('HPM_WATCH_FAILED', `watched directory ${this.#o.dir} was removed or moved away`, { field: 'watch.dirs' }));
        return;
      default:
        return;
    }
  }

  #renamed(abs: string, oldAbs: string, isDir: boolean): void {
    const st = lstatOrUndefined(abs);
    const flags = (isDir ? RecordFlag.DIR : 0) | (st?.isSymbolicLink() ? RecordFlag.SYMLINK : 0);
    this.#o.spool.write({ op: 'RENAME', path: toFsPath(abs), path2: toFsPath(oldAbs), flags, ...(st && { stat: toRecordStat(st) }) });
    this.counters.announced++;
    const idx = this.#o.index;
    idx.remove(this.#rel(oldAbs));
    this.#tracker.moved(oldAbs, abs);
    if (!st) return;
    if (!this.#tracker.has(abs)) idx.set(this.#rel(abs), entryKey(st));
    if (isDir) {
      for (const e of walkTree(abs, this.#rel(abs))) {
        const a = `${this.#o.dir}/${e.rel}`;
        if (!this.#tracker.has(a)) idx.set(e.rel, entryKey(e.stat));
      }
    }
  }

  // ---- rescans -------------------------------------------------------------------------------

  /**
   * Compares the tree with the index and announces what differs (new, changed, gone), then writes
   * the index anew. Without an index (first start) the tree is recorded, not announced: the
   * initial copy is `hpcmirror scan`'s job.
   */
  rescan(reason: 'startup' | 'overflow' | 'compact' | 'poll'): void {
    const o = this.#o;
    const t0 = Date.now();
    const first = !o.index.exists;
    const w = o.index.rewrite();
    const counts = { added: 0, changed: 0, removed: 0 };
    try {
      const idx = o.index.entries();
      const walk = walkTree(o.dir);
      let a = idx.next();
      let b = walk.next();
      const rmdirs: string[] = [];
      const abs = (rel: string): string => `${o.dir}/${rel}`;
      const popRmdirs = (rel?: string): void => {
        while (rmdirs.length && (rel === undefined || !isAtOrBelow(rel, rmdirs[rmdirs.length - 1]!))) {
          this.#announceRemove(abs(rmdirs.pop()!), true);
        }
      };
      while (!a.done || !b.done) {
        const c = a.done ? 1 : b.done ? -1 : dfsCompare(a.value.rel, b.value.rel);
        if (c < 0) {
          const { rel, key } = a.value!;
          popRmdirs(rel);
          counts.removed++;
          if (key === 'd') rmdirs.push(rel);
          else this.#announceRemove(abs(rel), false);
          a = idx.next();
          continue;
        }
        const e = b.value!;
        const key = entryKey(e.stat);
        popRmdirs(e.rel);
        if (c > 0 || a.value!.key !== key) {
          const oldKey = c === 0 ? a.value!.key : undefined;
          if (first) w.add(e.rel, key);
          else {
            if (c > 0) counts.added++;
            else counts.changed++;
            if (this.#found(e)) w.add(e.rel, key);
            else if (oldKey !== undefined) w.add(e.rel, oldKey);
          }
        } else {
          w.add(e.rel, key);
        }
        if (c === 0) a = idx.next();
        b = walk.next();
      }
      popRmdirs();
      w.commit();
    } catch (err) {
      w.abort();
      throw err;
    }
    this.counters.rescans++;
    this.counters.lastRescanMs = Date.now() - t0;
    this.counters.lastRescanEntries = w.count;
    this.#tracker.sweep();
    o.index.flush();
    const log = first ? 'no index yet: the tree is recorded as the baseline, nothing announced (hpcmirror scan makes the initial copy)' : 'tree compared with the index';
    o.logger.info({ dir: o.dir, reason, entries: w.count, ms: this.counters.lastRescanMs, ...(!first && counts) }, log);
  }
}
