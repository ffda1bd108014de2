import { lstatSync, type BigIntStats } from 'node:fs';
import { isAtOrBelow, toFsPath } from './tree-order.js';
import { entryKey } from './tree-walk.js';
import { openForWriting } from './open-writers.js';

interface Pending {
  key: string;
  /** Wall clock (ms) when its size or mtime last changed as far as we saw. */
  changedAtMs: number;
  /** Not looked at again before this (ms): after /proc showed it open, or while waiting for its close. */
  recheckAtMs?: number;
  /** /proc showed it open for writing once: its writer's close-write is due. */
  wasOpen?: boolean;
  /** Its writer is gone from /proc but no close-write came yet: announced after this grace. */
  closeGraceUntilMs?: number;
}

export interface CompletionOptions {
  stableMs: number;
  openQuietMs: number;
  nowMs: () => number;
  /** Announce this file: it is complete. */
  complete: (abs: string, st: BigIntStats) => void;
  /** Test hook: which of these paths are open for writing. */
  openWriters?: (paths: ReadonlySet<string>) => Set<string>;
}

/**
 * Files changed without a close-write seen yet (created, written, found by a rescan). A close-write
 * announces a file at once; otherwise it is announced once its size and mtime have been stable for
 * stableMs and no process on this node has it open for writing (a writer that pauses is not a
 * finished writer), or, still open, once unchanged for openQuietMs.
 */
export class CompletionTracker {
  readonly #o: CompletionOptions;
  readonly #pending = new Map<string, Pending>();

  constructor(o: CompletionOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Changed (or found changed): `sinceMs` = when, if older than now (a rescan passes the mtime). */
  changed(abs: string, st: BigIntStats, sinceMs?: number): void {
    const key = entryKey(st);
    const p = this.#pending.get(abs);
    if (p && p.key === key) return;
    const changedAtMs = Math.min(sinceMs ?? Infinity, this.#o.nowMs());
    if (!p) {
      this.#pending.set(abs, { key, changedAtMs });
      return;
    }
    // Written again: stable from now; whether a writer was seen holding it stays known.
    p.key = key;
    p.changedAtMs = changedAtMs;
    delete p.closeGraceUntilMs;
    delete p.recheckAtMs;
  }

  has(abs: string): boolean {
    return this.#pending.has(abs);
  }

  /** Announced by some other way (close-write, a rename's record). */
  forget(abs: string): void {
    this.#pending.delete(abs);
  }

  /** Removed or moved out: forget it and, for a directory, everything below it. */
  removed(abs: string, isDir: boolean): void {
    this.#pending.delete(abs);
    if (isDir) for (const k of [...this.#pending.keys()]) if (isAtOrBelow(k, abs)) this.#pending.delete(k);
  }

  moved(oldAbs: string, newAbs: string): void {
    for (const [k, p] of [...this.#pending]) {
      if (!isAtOrBelow(k, oldAbs)) continue;
      this.#pending.delete(k);
      this.#pending.set(newAbs + k.slice(oldAbs.length), p);
    }
  }

  /** Announces what is complete now; returns how many. */
  sweep(): number {
    if (!this.#pending.size) return 0;
    const now = this.#o.nowMs();
    const stable = new Map<string, { st: BigIntStats; p: Pending }>();
    for (const [abs, p] of [...this.#pending]) {
      let st: BigIntStats;
      try {
        st = lstatSync(toFsPath(abs), { bigint: true });
      } catch {
        this.#pending.delete(abs); // its removal or rename was (or will be) announced on its own
        continue;
      }
      const key = entryKey(st);
      if (key !== p.key) {
        p.key = key;
        p.changedAtMs = now;
        delete p.closeGraceUntilMs;
        delete p.recheckAtMs;
        continue;
      }
      if (p.recheckAtMs !== undefined && now < p.recheckAtMs) continue;
      if (now - p.changedAtMs >= this.#o.stableMs) stable.set(abs, { st, p });
    }
    if (!stable.size) return 0;
    const open = (this.#o.openWriters ?? openForWriting)(new Set(stable.keys()));
    let n = 0;
    for (const [abs, { st, p }] of stable) {
      if (open.has(abs) && now - p.changedAtMs < this.#o.openQuietMs) {
        p.wasOpen = true;
        p.recheckAtMs = now + this.#o.stableMs;
        continue;
      }
      if (!open.has(abs) && p.wasOpen && p.closeGraceUntilMs === undefined) {
        // A writer leaves /proc's fd list a moment before the kernel reports its close: wait for it.
        p.closeGraceUntilMs = p.recheckAtMs = now + this.#o.stableMs;
        continue;
      }
      this.#pending.delete(abs);
      this.#o.complete(abs, st);
      n++;
    }
    return n;
  }
}
