import { percentDecodeToBytes, percentEncodeBytes } from '@hpcmirror/core';
import { statKey, type FileStat } from '../changes/file-stat.js';

/** A writer that has the file open: one process on one host. */
interface Holder {
  host: string;
  pid: number;
}

interface DirtyEntry {
  path: Buffer;
  holders: Map<string, Holder>;
  /** A writer closed it after changing it while others still held it: announce when the last goes. */
  changed: boolean;
  /** Event time of the newest open or close seen for this path (shim clock, ns). */
  lastEventNs: bigint;
  /** Last key seen by a sweep and when (agent clock, ms) it last changed. */
  observedKey: string | undefined;
  changedAtMs: number;
  /** Key announced because the file went quiet; not announced again until it changes. */
  quietAnnouncedKey: string | undefined;
}

export type CompletionReason = 'exit' | 'gone' | 'quiet';

/** A dirty file that is now complete and must be announced (with a fresh stat unless given). */
export interface Completion {
  path: Buffer;
  reason: CompletionReason;
  /** When the change became complete as far as the agent knows (ns). */
  eventNs: bigint;
  stat?: FileStat;
}

/** Persisted form (agent-state.json `dirty`). Paths percent-encoded (bytes survive JSON). */
export interface DirtyEntryJson {
  path: string;
  holders: [string, number][];
  lastEventNs: string;
  changed?: boolean;
}

const holderKey = (host: string, pid: number): string => `${host}\0${pid}`;
const pathKey = (p: Buffer): string => p.toString('latin1');

function isBelow(path: Buffer, dir: Buffer): boolean {
  return path.length > dir.length + 1 && path[dir.length] === 0x2f && path.subarray(0, dir.length).equals(dir);
}

export interface SweepOptions {
  nowMs: number;
  nowNs: bigint;
  quietMs: number;
  /** lstat of a dirty path (undefined: gone). */
  stat: (path: Buffer) => Promise<FileStat | undefined>;
  /** Whether a holder is still running; undefined = cannot tell (another host's pid). */
  isAlive: (host: string, pid: number) => boolean | undefined;
}

/**
 * Files open for writing (semantics.md "The spool"): a file is announced when its last writer
 * closes it, when a writer exits (EXIT record, or its pid vanished: SIGKILL), or once it has been
 * quiet for dirty_quiet_s (mmap writers, MPI-IO, never-closed files). Repeated opens of one path
 * collapse into one entry; with several writers (MPI ranks), a close is deferred until the last.
 * Holders are a set, so replaying records after a restart is harmless.
 */
export class DirtySet {
  readonly #entries = new Map<string, DirtyEntry>();

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  has(path: Buffer): boolean {
    return this.#entries.has(pathKey(path));
  }

  holdersOf(path: Buffer): Holder[] {
    return [...(this.#entries.get(pathKey(path))?.holders.values() ?? [])];
  }

  open(host: string, pid: number, path: Buffer, eventNs: bigint, nowMs: number): void {
    const key = pathKey(path);
    let e = this.#entries.get(key);
    if (!e) {
      e = { path: Buffer.from(path), holders: new Map(), changed: false, lastEventNs: eventNs, observedKey: undefined, changedAtMs: nowMs, quietAnnouncedKey: undefined };
      this.#entries.set(key, e);
    }
    e.holders.set(holderKey(host, pid), { host, pid });
    if (eventNs > e.lastEventNs) e.lastEventNs = eventNs;
    e.changedAtMs = nowMs;
  }

  /**
   * A writer closed the file (`changed`: unless the shim saw it unchanged). `announce`: announce
   * it now; `deferred`: other writers still hold it, the last one's close announces it; `nothing`:
   * no change to announce.
   */
  close(host: string, pid: number, path: Buffer, eventNs: bigint, changed: boolean, nowMs: number): 'announce' | 'deferred' | 'nothing' {
    const key = pathKey(path);
    const e = this.#entries.get(key);
    if (!e) return changed ? 'announce' : 'nothing';
    e.holders.delete(holderKey(host, pid));
    if (e.holders.size === 0) {
      this.#entries.delete(key);
      return changed || e.changed ? 'announce' : 'nothing';
    }
    if (eventNs > e.lastEventNs) e.lastEventNs = eventNs;
    if (!changed) return 'nothing';
    e.changed = true;
    e.changedAtMs = nowMs;
    return 'deferred';
  }

  /** A writer is gone (EXIT record, or its pid vanished): files it was the last writer of are complete. */
  release(host: string, pid: number, eventNs: bigint, reason: 'exit' | 'gone'): Completion[] {
    const hk = holderKey(host, pid);
    const done: Completion[] = [];
    for (const [key, e] of this.#entries) {
      if (!e.holders.delete(hk)) continue;
      if (e.holders.size > 0) continue;
      this.#entries.delete(key);
      done.push({ path: e.path, reason, eventNs: eventNs > e.lastEventNs ? eventNs : e.lastEventNs });
    }
    return done;
  }

  /** A path (or, for a directory, everything below it) was renamed: open files follow their inode. */
  rename(oldPath: Buffer, newPath: Buffer, isDirectory: boolean): void {
    const moved: DirtyEntry[] = [];
    const direct = this.#entries.get(pathKey(oldPath));
    // Whatever was open under the new name was replaced: its writers now write an unlinked inode.
    this.#entries.delete(pathKey(newPath));
    if (direct) {
      this.#entries.delete(pathKey(oldPath));
      direct.path = Buffer.from(newPath);
      moved.push(direct);
    }
    if (isDirectory) {
      for (const [key, e] of this.#entries) {
        if (!isBelow(e.path, oldPath)) continue;
        this.#entries.delete(key);
        e.path = Buffer.concat([newPath, e.path.subarray(oldPath.length)]);
        moved.push(e);
      }
    }
    for (const e of moved) this.#entries.set(pathKey(e.path), e);
  }

  /** RENAME_EXCHANGE: the two names swap inodes. */
  exchange(a: Buffer, b: Buffer): void {
    const ea = this.#entries.get(pathKey(a));
    const eb = this.#entries.get(pathKey(b));
    this.#entries.delete(pathKey(a));
    this.#entries.delete(pathKey(b));
    if (ea) { ea.path = Buffer.from(b); this.#entries.set(pathKey(b), ea); }
    if (eb) { eb.path = Buffer.from(a); this.#entries.set(pathKey(a), eb); }
  }

  /** The path was unlinked: its writers keep an inode no name points to; nothing left to announce. */
  remove(path: Buffer): void {
    this.#entries.delete(pathKey(path));
  }

  /**
   * Periodic check: drops writers whose process is gone, and reports files that are complete
   * (no writer left) or have been quiet for quietMs since their content last changed.
   */
  async sweep(o: SweepOptions): Promise<Completion[]> {
    const done: Completion[] = [];
    const goneHolders: Holder[] = [];
    for (const e of this.#entries.values()) {
      for (const h of e.holders.values()) if (o.isAlive(h.host, h.pid) === false) goneHolders.push(h);
    }
    for (const h of goneHolders) done.push(...this.release(h.host, h.pid, o.nowNs, 'gone'));
    // Restored from a checkpoint taken while their announcement was being made: make it again.
    for (const [key, e] of this.#entries) {
      if (e.holders.size > 0) continue;
      this.#entries.delete(key);
      done.push({ path: e.path, reason: 'gone', eventNs: e.lastEventNs });
    }

    for (const [key, e] of [...this.#entries]) {
      const st = await o.stat(e.path);
      if (this.#entries.get(key) !== e) continue; // changed while we were stat-ing
      const k = statKey(st);
      if (k !== e.observedKey) {
        if (e.observedKey !== undefined) e.changedAtMs = o.nowMs;
        e.observedKey = k;
      }
      if (o.nowMs - e.changedAtMs < o.quietMs) continue;
      if (!st) {
        // Gone for a while: the UNLINK or RENAME record announced what happened to it.
        this.#entries.delete(key);
        continue;
      }
      if (e.quietAnnouncedKey === k) continue;
      e.quietAnnouncedKey = k;
      done.push({ path: e.path, reason: 'quiet', eventNs: st.mtimeNs > e.lastEventNs ? st.mtimeNs : e.lastEventNs, stat: st });
      if (e.holders.size === 0) this.#entries.delete(key);
    }
    return done;
  }

  toJSON(): DirtyEntryJson[] {
    return [...this.#entries.values()].map((e) => ({
      path: percentEncodeBytes(e.path),
      holders: [...e.holders.values()].map((h) => [h.host, h.pid] as [string, number]),
      lastEventNs: e.lastEventNs.toString(),
      ...(e.changed && { changed: true }),
    }));
  }

  /** Restores persisted entries; quiet timers start over. */
  load(entries: readonly DirtyEntryJson[], nowMs: number): void {
    for (const j of entries) {
      const path = percentDecodeToBytes(j.path);
      const eventNs = BigInt(j.lastEventNs);
      if (j.holders.length === 0) {
        this.#entries.set(pathKey(path), { path, holders: new Map(), changed: true, lastEventNs: eventNs, observedKey: undefined, changedAtMs: nowMs, quietAnnouncedKey: undefined });
      }
      for (const [host, pid] of j.holders) this.open(host, pid, path, eventNs, nowMs);
      if (j.changed) this.#entries.get(pathKey(path))!.changed = true;
    }
  }
}
