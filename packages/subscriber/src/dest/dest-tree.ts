import type { BigIntStats } from 'node:fs';
import { realpath } from 'node:fs/promises';
import * as fsp from 'node:fs/promises';
import { HpcmError } from '@hpcmirror/core';
import { SubscriberError } from '../errors.js';
import { joinUnder, showPath } from '../path-bytes.js';
import type { SourceStat } from '../transports/transport.js';
import { withWritableDir } from './writable-dir.js';
import { closeFd, errnoOf, fdPath, fstatFd, lstatAt, mkdirAt, openDirAt, openDirPath } from './at-ops.js';

/** An open destination directory, reached from the root through real directories only. */
export interface DirHandle {
  readonly fd: number;
  /** Components below destination_root. */
  readonly rel: readonly Buffer[];
  /** destination_root/rel, for messages. */
  readonly path: Buffer;
}

export interface WalkPlan {
  /**
   * Source lstat of each component walked (aligned with `rel`), asked for only when a component is
   * missing or not a directory: a missing one is created only if it is a directory on the source.
   */
  sourceDirs?: () => Promise<readonly (SourceStat | null | undefined)[]>;
  /** Sets mode/owner/... of a directory this walk created. */
  initDir?: (fd: number, source: SourceStat) => Promise<void>;
  /** Called with the rel of each directory this walk created. */
  onCreated?: (rel: readonly Buffer[]) => void;
  /** Clears a non-directory standing where the source has a directory (a guarded remove). */
  replaceNonDir?: (parent: DirHandle, name: Buffer, st: BigIntStats) => Promise<void>;
}

const RACE_TRIES = 4;

/**
 * The destination side of every apply: walks from destination_root one component at a time with
 * O_NOFOLLOW (semantics.md "Paths and safety"). A symlink where a directory should be is never followed:
 * the walk throws HPM_PATH_UNSAFE and the message is parked.
 */
export interface DestTreeOptions {
  /** Lift a read-only directory's owner bits around changes inside it (default: when not root). */
  unlockReadOnlyDirs?: boolean;
}

export class DestTree {
  readonly root: Buffer;
  readonly #unlock: boolean;
  #realRoot: Buffer | undefined;
  #rootDev: bigint | undefined;

  constructor(root: Buffer, opts: DestTreeOptions = {}) {
    this.root = root;
    this.#unlock = opts.unlockReadOnlyDirs ?? process.geteuid?.() !== 0;
  }

  /** Runs a change of the entries of the directory `dirFd` holds (see withWritableDir). */
  async writable<T>(dirFd: number, fn: () => Promise<T>): Promise<T> {
    return this.#unlock ? withWritableDir(dirFd, fn) : fn();
  }

  /** Checks the root exists and remembers its real path (for verifyInside). */
  async start(): Promise<void> {
    let st;
    try {
      st = await fsp.stat(this.root, { bigint: true });
    } catch (err) {
      throw new SubscriberError('HPM_SUB_CONFIG', `destination_root ${showPath(this.root)}: ${errnoOf(err) ?? String(err)}`, { cause: err });
    }
    if (!st.isDirectory()) throw new SubscriberError('HPM_SUB_CONFIG', `destination_root ${showPath(this.root)}: not a directory`);
    this.#realRoot = await realpath(this.root, { encoding: 'buffer' });
    this.#rootDev = st.dev;
  }

  get realRoot(): Buffer {
    return this.#realRoot ?? this.root;
  }

  async openRoot(): Promise<DirHandle> {
    let fd: number;
    try {
      fd = await openDirPath(this.root);
    } catch (err) {
      // The root is configured, so it may be a symlink (to a mount); what lies below it may not.
      throw new HpcmError('HPM_DEST_IO', `destination_root ${showPath(this.root)}: ${errnoOf(err) ?? 'cannot open'}`, { cause: err, retryable: true });
    }
    if (this.#rootDev !== undefined && (await fstatFd(fd)).dev !== this.#rootDev) {
      // Unmounted: writing on would fill the file system under the mount point.
      await closeFd(fd);
      throw new HpcmError('HPM_DEST_IO', `destination_root ${showPath(this.root)} is on another file system than at start (unmounted?)`, { retryable: true });
    }
    return { fd, rel: [], path: this.root };
  }

  /**
   * Opens destination_root/rel. Missing components are created when `plan.sourceDirs` says the
   * source has them as directories; otherwise the result is null (nothing to do there).
   */
  async openDir(rel: readonly Buffer[], plan: WalkPlan = {}): Promise<DirHandle | null> {
    let cur = await this.openRoot();
    let sources: readonly (SourceStat | null | undefined)[] | undefined;
    const sourceOf = async (i: number): Promise<SourceStat | null | undefined> => {
      if (!plan.sourceDirs) return undefined;
      sources ??= await plan.sourceDirs();
      return sources[i];
    };
    try {
      for (let i = 0; i < rel.length; i++) {
        const next = await this.#step(cur, rel[i]!, i, rel, plan, sourceOf);
        await closeFd(cur.fd);
        cur = { fd: -1, rel: [], path: this.root };
        if (next === null) return null;
        cur = next;
      }
      return cur;
    } catch (err) {
      if (cur.fd >= 0) await closeFd(cur.fd);
      throw err;
    }
  }

  async #step(
    parent: DirHandle, name: Buffer, i: number, rel: readonly Buffer[], plan: WalkPlan,
    sourceOf: (i: number) => Promise<SourceStat | null | undefined>,
  ): Promise<DirHandle | null> {
    const childRel = rel.slice(0, i + 1);
    const childPath = joinUnder(this.root, childRel);
    for (let attempt = 0; attempt < RACE_TRIES; attempt++) {
      // Open first (O_NOFOLLOW|O_DIRECTORY): one call when the directory is there, as it nearly always is.
      const opened = await this.#openChild(parent.fd, name);
      if (opened !== undefined) return { fd: opened, rel: childRel, path: childPath };
      const st = await lstatAt(parent.fd, name);
      if (st === null) {
        const source = await sourceOf(i);
        if (!source || source.type !== 'dir') return null;
        try {
          await this.writable(parent.fd, () => mkdirAt(parent.fd, name, 0o700));
        } catch (err) {
          if (errnoOf(err) === 'EEXIST') continue;
          throw err;
        }
        const fd = await this.#openChild(parent.fd, name);
        if (fd === undefined) continue;
        try {
          if (plan.initDir) await plan.initDir(fd, source);
        } catch (err) {
          await closeFd(fd);
          throw err;
        }
        plan.onCreated?.(childRel);
        return { fd, rel: childRel, path: childPath };
      }
      if (st.isSymbolicLink()) {
        // A mirrored symlink, on a path written through it on the source: nothing to do here (the
        // real path is announced on its own). Anything else is never followed: the message is parked.
        if ((await sourceOf(i))?.type === 'symlink') return null;
        throw unsafe(childPath);
      }
      if (!st.isDirectory()) {
        const source = await sourceOf(i);
        if (source?.type === 'dir' && plan.replaceNonDir) {
          await plan.replaceNonDir(parent, name, st);
          continue;
        }
        return null;
      }
      // A directory again (it was swapped while we looked): open it on the next round.
    }
    throw new SubscriberError('HPM_SUB_DEST_MOVED', `destination ${showPath(childPath)} kept changing while it was opened`);
  }

  /** undefined when the entry changed between lstat and open (the caller looks again). */
  async #openChild(parentFd: number, name: Buffer): Promise<number | undefined> {
    try {
      return await openDirAt(parentFd, name);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Re-checks, just before a rename makes a write visible, that the directory is still where the walk
   * found it: the kernel's current path of the fd must be the root's real path plus `dir.rel`.
   * Catches a directory moved out of the tree after the walk, and one renamed inside it by another
   * worker (a directory rename holds other path locks than its entries): written through the old fd,
   * the entry would land under the new name, over that directory's own copy, and no later message
   * would look there. The remaining window is this call to the rename.
   */
  async verifyInside(dir: DirHandle): Promise<void> {
    let now: Buffer;
    try {
      now = await fsp.readlink(fdPath(dir.fd), { encoding: 'buffer' });
    } catch (err) {
      if (errnoOf(err) === 'ENAMETOOLONG') return this.#verifyByWalk(dir);
      throw err;
    }
    if (!now.equals(joinUnder(this.realRoot, dir.rel))) {
      throw new SubscriberError('HPM_SUB_DEST_MOVED', `destination ${showPath(dir.path)} moved (now ${showPath(now)}) during the apply`);
    }
  }

  /** For paths too long for the kernel to print: walk again and compare inodes. */
  async #verifyByWalk(dir: DirHandle): Promise<void> {
    const again = await this.openDir(dir.rel);
    try {
      const [a, b] = await Promise.all([fstatFd(dir.fd), again ? fstatFd(again.fd) : null]);
      if (!b || a.ino !== b.ino || a.dev !== b.dev) {
        throw new SubscriberError('HPM_SUB_DEST_MOVED', `destination ${showPath(dir.path)} moved during the apply`);
      }
    } finally {
      await closeFd(again?.fd);
    }
  }
}

export function unsafe(path: Buffer): HpcmError {
  return new HpcmError('HPM_PATH_UNSAFE', `destination ${showPath(path)} is a symlink where a directory is expected; not followed`, { field: 'relPath' });
}
