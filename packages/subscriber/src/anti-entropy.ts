import type { BigIntStats } from 'node:fs';
import type { Logger } from '@hpcmirror/core';
import type { Clock } from './clock.js';
import { closeFd, lstatAt, readdirFd, readlinkAt } from './dest/at-ops.js';
import type { DestTree } from './dest/dest-tree.js';
import { removeTree } from './dest/remove-tree.js';
import { precisionOf, sameMtime } from './dest/times.js';
import { SubscriberError, dispositionOf, reasonOf } from './errors.js';
import { fromPathKey, joinUnder, pathKey, showPath } from './path-bytes.js';
import type { AcceptRejectFilter } from '@hpcmirror/core';
import type { HardLinkIndex } from './hard-link-index.js';
import type { PathLocks } from './path-locks.js';
import type { PathMap } from './path-map.js';
import type { ReconcileResult, Reconciler } from './reconciler.js';
import type { TempJournal } from './temp-journal.js';
import { isTempName } from './temp-names.js';
import type { SourceStat, Transport } from './transports/transport.js';

export interface AntiEntropyDeps {
  transport: Transport;
  tree: DestTree;
  map: PathMap;
  journal: TempJournal;
  locks: PathLocks;
  reconciler: Reconciler;
  /** A directory is compared once it has been quiet this long. */
  quietMs: number;
  /**
   * subscriber.anti_entropy. false (reverse subscribers): no background comparisons at all, touches
   * are dropped and start() arms no timer; only syncTree stays, as it is part of applying a directory
   * rename or replacement (the message counts as applied once the subtree matches).
   */
  enabled?: boolean;
  /** Compare owners too (the subscriber chowns). */
  owners: boolean;
  clock: Clock;
  logger: Logger;
  /** A trash_dir inside the destination root is not part of the mirror. */
  excludeDest?: Buffer;
  /** accept/reject: a name the subscriber does not take is left alone on both sides. */
  filter?: AcceptRejectFilter;
  /** The reconciler's hard-link index: names of one source inode must share one destination inode. */
  links?: HardLinkIndex;
}

export interface AntiEntropyStats {
  pending: number;
  checked: number;
  repaired: number;
  tempsRemoved: number;
  errors: number;
}

const MAX_PENDING = 1_000_000;

/**
 * semantics.md layer 3: remember the directories touched; once one has been quiet for a while,
 * compare one listing of each side and reconcile every name that differs, as if it had been announced.
 * A directory rename schedules the whole subtree (each level is compared at once, not after a quiet
 * period). One directory at a time, in the background.
 */
export class AntiEntropy {
  readonly #d: AntiEntropyDeps;
  /** Waiting for their quiet time; insertion order is due order (a touch moves an entry to the end). */
  readonly #quiet = new Map<string, number>();
  /** Due at once, walked as part of a subtree. */
  readonly #subtree = new Set<string>();
  readonly #stats: AntiEntropyStats = { pending: 0, checked: 0, repaired: 0, tempsRemoved: 0, errors: 0 };
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: AntiEntropyDeps) {
    this.#d = deps;
  }

  /** A directory changed: compare it once it has been quiet (at once, with its subtree, for `subtree`). */
  touch(sourceDir: Buffer, subtree = false): void {
    if (this.#d.enabled === false) return;
    const key = pathKey(sourceDir);
    if (subtree) {
      this.#quiet.delete(key);
      this.#subtree.add(key);
      return;
    }
    if (this.#subtree.has(key)) return;
    if (!this.#quiet.delete(key) && this.#quiet.size >= MAX_PENDING) return;
    this.#quiet.set(key, this.#d.clock.nowMs() + this.#d.quietMs);
  }

  start(): void {
    if (this.#timer || this.#d.enabled === false) return;
    this.#stopped = false;
    const every = Math.max(100, Math.min(1000, Math.floor(this.#d.quietMs / 2)));
    this.#timer = setInterval(() => {
      if (!this.#running) this.#running = this.runDue().finally(() => { this.#running = undefined; });
    }, every);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  stats(): AntiEntropyStats {
    return { ...this.#stats, pending: this.#quiet.size + this.#subtree.size };
  }

  /** Compares every directory whose quiet time is over. */
  async runDue(): Promise<void> {
    while (!this.#stopped) {
      const sub = this.#subtree.values().next();
      if (!sub.done) {
        this.#subtree.delete(sub.value);
        await this.check(fromPathKey(sub.value), true);
        continue;
      }
      const first = this.#quiet.entries().next();
      if (first.done || first.value[1] > this.#d.clock.nowMs()) return;
      this.#quiet.delete(first.value[0]);
      await this.check(fromPathKey(first.value[0]), false);
    }
  }

  /** Compares one source directory with its destination and repairs what differs. */
  async check(sourceDir: Buffer, subtree: boolean): Promise<void> {
    const d = this.#d;
    const rel = d.map.relOf(sourceDir);
    if (rel === null) return;
    this.#stats.checked++;
    try {
      for (const child of await this.#check(sourceDir, rel, subtree)) this.touch(child, true);
    } catch (err) {
      this.#stats.errors++;
      const again = dispositionOf(err) !== 'park';
      d.logger.warn({ dir: showPath(sourceDir), err: reasonOf(err), again }, 'anti-entropy check failed');
      if (again && !this.#stopped) this.touch(sourceDir, false);
    }
  }

  /**
   * Compares a whole subtree now, level by level, and returns once it matches (or throws: the caller
   * retries). For a directory rename, whose message counts as applied only after this.
   */
  async syncTree(root: Buffer): Promise<void> {
    const d = this.#d;
    const queue = [root];
    for (let dir = queue.shift(); dir !== undefined; dir = queue.shift()) {
      if (this.#stopped) throw new SubscriberError('HPM_SUB_STOPPING', 'subscriber is stopping');
      const key = pathKey(dir);
      this.#subtree.delete(key);
      this.#quiet.delete(key);
      const rel = d.map.relOf(dir);
      if (rel === null) continue;
      this.#stats.checked++;
      queue.push(...(await this.#check(dir, rel, true)));
    }
  }

  /** The child directories to compare next when walking a subtree. */
  async #check(sourceDir: Buffer, rel: Buffer[], subtree: boolean): Promise<Buffer[]> {
    const d = this.#d;
    const listing = await d.transport.list(sourceDir);
    if (listing === null) {
      await this.#repair(sourceDir);
      return [];
    }
    const dir = await d.tree.openDir(rel);
    if (dir === null) {
      const r = await this.#repair(sourceDir);
      // Created just now: compare its content too.
      return subtree && r.type === 'dir' && r.outcome === 'written' ? [sourceDir] : [];
    }
    const differing: Buffer[] = [];
    const childDirs: Buffer[] = [];
    try {
      const src = new Map<string, SourceStat>();
      for (const e of listing) if (!isTempName(e.name)) src.set(pathKey(e.name), e.stat);
      const now = d.clock.nowMs();
      const names = await readdirFd(dir.fd);
      const dst = new Map<string, BigIntStats>();
      for (const name of names) {
        const st = await lstatAt(dir.fd, name);
        if (!st) continue;
        if (isTempName(name)) {
          if (d.journal.isStale(rel, name, Number(st.ctimeMs), now)) {
            await d.tree.writable(dir.fd, () => removeTree(dir.fd, name));
            this.#stats.tempsRemoved++;
          }
          continue;
        }
        if (d.excludeDest && joinUnder(d.tree.root, [...rel, name]).equals(d.excludeDest)) continue;
        dst.set(pathKey(name), st);
      }
      for (const key of new Set([...src.keys(), ...dst.keys()])) {
        const name = fromPathKey(key);
        if (d.filter?.rejectedBy(joinUnder(sourceDir, [name])) !== undefined) continue;
        const s = src.get(key);
        const t = dst.get(key);
        if (await this.#differs(dir.fd, name, joinUnder(sourceDir, [name]), s, t)) differing.push(name);
        else if (subtree && s?.type === 'dir') childDirs.push(name);
      }
    } finally {
      await closeFd(dir.fd);
    }
    for (const name of differing) {
      const child = joinUnder(sourceDir, [name]);
      const r = await this.#repair(child);
      this.#stats.repaired++;
      if (subtree && r.type === 'dir') childDirs.push(name);
    }
    // Last: the directory's own mode and mtime (the repairs above moved its mtime).
    if (rel.length > 0) await this.#repair(sourceDir);
    return childDirs.map((name) => joinUnder(sourceDir, [name]));
  }

  async #repair(path: Buffer): Promise<ReconcileResult> {
    const d = this.#d;
    const r = await d.locks.withLocksEscalating([pathKey(path)], (treeLocked) => d.reconciler.reconcile(path, { treeLocked }));
    // A directory that stood for another source directory: its subtree next (no quiet time).
    for (const dir of r.subtrees ?? []) this.touch(dir, true);
    return r;
  }

  async #differs(dirFd: number, name: Buffer, src: Buffer, s: SourceStat | undefined, t: BigIntStats | undefined): Promise<boolean> {
    if (!s || s.type === 'other') return t !== undefined;
    if (!t) return true;
    const tType = t.isFile() ? 'file' : t.isDirectory() ? 'dir' : t.isSymbolicLink() ? 'symlink' : 'other';
    if (tType !== s.type) return true;
    if (this.#d.owners && (Number(t.uid) !== s.uid || Number(t.gid) !== s.gid)) return true;
    const mtimeDiffers = !sameMtime(t.mtimeNs, s.mtimeNs, precisionOf(s));
    switch (s.type) {
      case 'file':
        return Number(t.size) !== s.size || mtimeDiffers || (Number(t.mode) & 0o7777) !== s.mode || (await this.#outOfGroup(src, s, t));
      case 'dir':
        return mtimeDiffers || (Number(t.mode) & 0o7777) !== s.mode;
      default: {
        if (mtimeDiffers) return true;
        const [mine, theirs] = await Promise.all([readlinkAt(dirFd, name), this.#d.transport.readlink(src).catch(() => null)]);
        return theirs === null || !mine.equals(theirs);
      }
    }
  }

  /**
   * A file with other names on the source must share its destination inode with theirs: a member
   * fetched on its own (a split group) differs even with the right content. Every such name seen is
   * registered, so a group whose names live in two directories is recognised when the second one is
   * compared. The repair's reconcile re-links the group (and drops names that left it).
   */
  async #outOfGroup(src: Buffer, s: SourceStat, t: BigIntStats): Promise<boolean> {
    const d = this.#d;
    if (!d.links || s.nlink <= 1 || s.ino === 0n) return false;
    d.links.add(s.dev, s.ino, src);
    for (const m of d.links.members(s.dev, s.ino, src)) {
      const rel = d.map.relOf(m);
      if (!rel || rel.length === 0) continue;
      const dir = await d.tree.openDir(rel.slice(0, -1));
      if (!dir) continue;
      try {
        const mt = await lstatAt(dir.fd, rel[rel.length - 1]!);
        if (mt?.isFile() && mt.ino !== t.ino) return true;
      } finally {
        await closeFd(dir.fd);
      }
    }
    return false;
  }
}
