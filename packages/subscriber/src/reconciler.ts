import { createHash } from 'node:crypto';
import { constants, copyFile, createReadStream, writeFile, type BigIntStats } from 'node:fs';
import { promisify } from 'node:util';
import type { Logger } from '@hpcmirror/core';
import type { Clock } from './clock.js';
import type { DeleteGuard } from './delete-guard.js';
import { at, closeFd, errnoOf, linkAt, lstatAt, mkdirAt, openAt, openDirAt, readlinkAt, renameAt, symlinkAt, unlinkAt } from './dest/at-ops.js';
import { fixAttrsAt, fsyncFd, setAttrsFd, setSymlinkAttrsAt, type AttrPolicy } from './dest/attrs.js';
import type { DestTree, DirHandle, WalkPlan } from './dest/dest-tree.js';
import type { DirSync } from './dest/dir-sync.js';
import { removeTree } from './dest/remove-tree.js';
import { createSourceRecords, recordVerdict, type SourceRecords } from './dest/source-record.js';
import { precisionOf, sameMtime } from './dest/times.js';
import { SubscriberError } from './errors.js';
import type { HardLinkIndex } from './hard-link-index.js';
import { joinUnder, pathKey, showPath } from './path-bytes.js';
import { TreeLockNeeded, type PathLocks } from './path-locks.js';
import type { PathMap } from './path-map.js';
import type { TempJournal } from './temp-journal.js';
import type { TempNames } from './temp-names.js';
import type { Trash } from './trash.js';
import { isTransportError } from './transports/errors.js';
import type { SourceStat, Transport } from './transports/transport.js';

const copyFileP = promisify(copyFile);
const writeFileP = promisify(writeFile);
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/** Fetch attempts per reconcile when the source keeps changing under the copy (semantics.md). */
export const MAX_FETCH_ATTEMPTS = 3;

export type Outcome =
  /** New content, a new entry, or a replaced one. */
  | 'written'
  /** Only mode/owner/mtime changed. */
  | 'attrs'
  | 'removed'
  /** The destination already matched the source. */
  | 'unchanged'
  /** A source parent is gone: nothing to do here (the rename/remove that did it is reconciled on its own). */
  | 'parent-gone';

export interface ReconcileResult {
  outcome: Outcome;
  /** Bytes fetched over the transport. */
  bytes: number;
  /** What the destination entry is now. */
  type: SourceStat['type'] | 'absent';
  /** The source state the destination now mirrors (null when absent). */
  source: SourceStat | null;
  destPath: Buffer;
  /**
   * Source directories whose whole subtree must be compared before the message counts as applied
   * (a directory rename: children announced before it may have been applied under the other name).
   */
  subtrees?: Buffer[];
}

export interface ReconcileOptions {
  /** Destination components when they differ from the source path's (a v03 top-level `rename`). */
  destRel?: Buffer[];
  /** Source paths that may share the inode (fileOp.hlink): linked locally instead of fetched. */
  linkHints?: Buffer[];
  /**
   * A message's inline content, used when the source still has that size and mtime and, when the
   * message carries them, that ctime and inode (a same-size rewrite can be given its old mtime back).
   */
  inline?: { bytes: Buffer; size: number | undefined; mtimeNs: bigint | undefined; ctimeNs?: bigint | undefined; ino?: bigint | undefined };
  /**
   * The caller holds the path in `tree` mode (path-locks.ts): a destination directory may be removed
   * or replaced. Without it, the reconcile throws TreeLockNeeded before changing anything, and the
   * caller takes the stronger lock and reconciles again.
   */
  treeLocked?: boolean;
}

export interface ReconcilerDeps {
  transport: Transport;
  tree: DestTree;
  map: PathMap;
  temps: TempNames;
  journal: TempJournal;
  guard: DeleteGuard;
  trash: Trash | undefined;
  links: HardLinkIndex;
  locks: PathLocks;
  dirSync: DirSync;
  attrs: AttrPolicy;
  fsync: boolean;
  bwlimitBytesPerSec: number;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
  /** A destination directory changed (or was created): anti-entropy looks at it once it is quiet. */
  touched: (sourceDir: Buffer, subtree: boolean) => void;
  /** Counts removes actually done (metrics). */
  onRemoved?: (n: number) => void;
  /** Which source inode each copy came from (default: the `user.hpcm.src` xattr, dest/source-record.ts). */
  records?: SourceRecords;
}

type Step = Outcome | 'source-changed';

const sameVersion = (a: SourceStat, b: SourceStat | null): boolean =>
  b !== null && a.type === b.type && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs
  && a.ino === b.ino && a.dev === b.dev && a.mode === b.mode;

const sameContent = (t: BigIntStats, s: SourceStat): boolean =>
  t.isFile() && Number(t.size) === s.size && sameMtime(t.mtimeNs, s.mtimeNs, precisionOf(s));

const SOURCE_FLUX = new Set(['HPM_TRANSPORT_SOURCE_GONE', 'HPM_TRANSPORT_NOT_A_FILE', 'HPM_TRANSPORT_NOT_A_SYMLINK', 'HPM_TRANSPORT_TEMP_EXISTS']);
const isSourceFlux = (err: unknown): boolean => isTransportError(err) && SOURCE_FLUX.has(err.code);

/**
 * Makes one destination path match what the source holds *now* (semantics.md "Applying a change").
 * Messages are hints: whatever they say, the source is stat'ed and the destination converges to that.
 * The caller holds the path lock of every source path passed in.
 */
export class Reconciler {
  readonly #d: ReconcilerDeps;
  readonly #records: SourceRecords;
  /** The source root's device when first seen: another one means it was unmounted (or remounted). */
  #sourceRootDev: bigint | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#records = deps.records ?? createSourceRecords(deps.logger);
  }

  /**
   * Whether dir/name (stat T) may be a copy of the source's current version S: same size and mtime,
   * and not recorded as made from another source inode (a file removed and re-created with the old
   * size and mtime, as `tar -x` and `cp -p` leave it). Enough to move or link it locally; whether
   * to skip a fetch is decided by #isCurrentCopy.
   */
  async #isCopyOf(dirFd: number, name: Buffer, T: BigIntStats, S: SourceStat): Promise<boolean> {
    if (!sameContent(T, S)) return false;
    return recordVerdict(await this.#records.read(dirFd, name), S) !== 'other';
  }

  /** Looks at the source root once (at start), so that a later unmount is recognised. */
  async checkSourceRoot(): Promise<void> {
    await this.#statParents([]);
  }

  /** Reconciles source path `src` (absolute, under source_root). */
  async reconcile(src: Buffer, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
    const d = this.#d;
    const rel = opts.destRel ?? d.map.relOf(src);
    if (rel === null) throw new Error(`reconcile: ${showPath(src)} is not under source_root`);
    const destPath = d.map.destinationOf(rel);
    const lockKey = pathKey(src);
    for (let attempt = 1; attempt <= MAX_FETCH_ATTEMPTS; attempt++) {
      this.#checkAborted();
      const tick = d.locks.tick();
      const result = (outcome: Outcome, S: SourceStat | null, bytes = 0): ReconcileResult => {
        d.locks.noteReconciled(lockKey, tick);
        const gone = outcome === 'removed' || outcome === 'parent-gone' || S === null;
        return { outcome, bytes, type: gone ? 'absent' : S.type, source: gone ? null : S, destPath };
      };
      if (rel.length === 0) {
        // The root itself: only its listing matters.
        await this.#statParents(rel);
        d.touched(src, false);
        return result('unchanged', null);
      }
      const [S = null] = await d.transport.stat([src]);
      let dir: DirHandle | null;
      if (S === null || S.type === 'other') {
        // Before removing anything: is the source root there, and are the parents? (A message under a
        // parent that is gone is a no-op: the rename or remove of that parent is reconciled on its own.)
        const parents = await this.#statParents(rel);
        if (parents.some((p) => p === null || p.type !== 'dir')) return result('parent-gone', null);
        dir = await d.tree.openDir(rel.slice(0, -1));
        if (dir === null) return result('unchanged', null);
      } else {
        // The source path exists, so its parents do: they are looked up only if one must be created.
        dir = await d.tree.openDir(rel.slice(0, -1), this.#walkPlan(rel));
        if (dir === null) return result('parent-gone', null);
      }
      let step: Step;
      let bytes = 0;
      let replacedDir = false;
      try {
        const name = rel[rel.length - 1]!;
        const r = await this.#applyEntry(dir, name, src, S, opts);
        step = r.step;
        bytes = r.bytes;
        replacedDir = r.replacedDir === true;
      } finally {
        await closeFd(dir.fd);
      }
      if (step !== 'source-changed') {
        // Entries appeared, vanished or were replaced: the parent's listing is worth a second look.
        if (step === 'written' || step === 'removed') d.touched(joinUnder(d.map.sourceRoot, rel.slice(0, -1)), false);
        // The destination directory held another source directory's entries (RENAME_EXCHANGE of two
        // directories, or one replaced by another): its whole subtree is compared before this counts.
        return replacedDir ? { ...result(step, S, bytes), subtrees: [src] } : result(step, S, bytes);
      }
      d.logger.debug({ path: showPath(src), attempt }, 'source changed during the apply; looking again');
    }
    throw new SubscriberError('HPM_SUB_SOURCE_BUSY', `${showPath(src)}: source changed during ${MAX_FETCH_ATTEMPTS} attempts`);
  }

  /**
   * The caller holds both paths in `tree` mode.
   * fileOp.rename: when the destination's old path holds what the source's new path holds, move it
   * locally (source no longer has the old path) or link/copy it locally (it still has it); otherwise
   * fetch the new path. The old path is then reconciled: removed only if the source no longer has it.
   */
  async rename(oldSrc: Buffer, newSrc: Buffer): Promise<ReconcileResult> {
    const d = this.#d;
    const oldRel = d.map.relOf(oldSrc);
    const newRel = d.map.relOf(newSrc);
    if (oldRel && newRel && oldRel.length > 0 && newRel.length > 0 && !isInside(newRel, oldRel)) {
      await this.#renameLocally(oldSrc, oldRel, newSrc, newRel).catch((err: unknown) => {
        if (isSourceFlux(err)) return;
        throw err;
      });
    }
    const result = await this.reconcile(newSrc, { treeLocked: true });
    // A directory renamed: its whole subtree is compared (children may be missing or stale), and so is
    // a directory at the old name (`mv run run.1; mkdir run`): children announced under the new `run`
    // and applied before this rename went along with the move.
    const subtrees = new Map<string, Buffer>();
    if (result.type === 'dir') subtrees.set(pathKey(newSrc), newSrc);
    if (oldRel && (await this.reconcile(oldSrc, { treeLocked: true })).type === 'dir') subtrees.set(pathKey(oldSrc), oldSrc);
    return subtrees.size ? { ...result, subtrees: [...subtrees.values()] } : result;
  }

  async #renameLocally(oldSrc: Buffer, oldRel: Buffer[], newSrc: Buffer, newRel: Buffer[]): Promise<void> {
    const d = this.#d;
    const [SO, SP] = await d.transport.stat([oldSrc, newSrc]);
    if (!SP || SP.type === 'other') return;
    const odir = await d.tree.openDir(oldRel.slice(0, -1));
    if (!odir) return;
    try {
      const oname = oldRel[oldRel.length - 1]!;
      const TO = await lstatAt(odir.fd, oname);
      if (!TO || !(await this.#holdsSame(odir, oname, TO, newSrc, SP))) return;
      const pdir = await d.tree.openDir(newRel.slice(0, -1), this.#walkPlan(newRel));
      if (!pdir) return;
      try {
        const pname = newRel[newRel.length - 1]!;
        // A directory has one name: a directory (or anything) at the old source name now is another
        // one (`mv run run.1; mkdir run`), so ours moves all the same; the old name is then
        // reconciled on its own. (Copying instead left the old children under the old name.)
        if (!SO || (TO.isDirectory() && SP.type === 'dir')) {
          const TP = await lstatAt(pdir.fd, pname);
          if (TP?.isDirectory() && !TO.isDirectory()) await this.#remove(pdir, pname, TP);
          await d.tree.verifyInside(odir);
          await d.tree.verifyInside(pdir);
          try {
            await d.tree.writable(odir.fd, () => d.tree.writable(pdir.fd, () => renameAt(odir.fd, oname, pdir.fd, pname)));
          } catch (err) {
            // A non-empty directory in the way (or the like): the plain reconcile below sorts it out.
            if (['ENOTEMPTY', 'EEXIST', 'EISDIR', 'ENOTDIR', 'EXDEV', 'EINVAL', 'EBUSY'].includes(errnoOf(err) ?? '')) return;
            throw err;
          }
          if (d.fsync) await Promise.all([d.dirSync.sync(pdir.fd), d.dirSync.sync(odir.fd)]);
          if (TO.isDirectory()) d.touched(newSrc, true);
          d.touched(joinUnder(d.map.sourceRoot, oldRel.slice(0, -1)), false);
          return;
        }
        if (TO.isFile()) {
          const asLink = SO.type === 'file' && SO.dev === SP.dev && SO.ino === SP.ino;
          await this.#placeLocalCopy(odir, oname, pdir, pname, SP, asLink);
        }
      } finally {
        await closeFd(pdir.fd);
      }
    } finally {
      await closeFd(odir.fd);
    }
  }

  /** Puts a link to, or a copy of, odir/oname at pdir/pname (atomically, through a temp name). */
  async #placeLocalCopy(odir: DirHandle, oname: Buffer, pdir: DirHandle, pname: Buffer, S: SourceStat, asLink: boolean): Promise<void> {
    const d = this.#d;
    const TP = await lstatAt(pdir.fd, pname);
    await this.#viaTemp(pdir, async (tmp) => {
      if (asLink) {
        await linkAt(odir.fd, oname, pdir.fd, tmp);
      } else {
        // Through an O_NOFOLLOW fd: a symlink swapped in for the old name is never copied through.
        const src = await openAt(odir.fd, oname, O_RDONLY | O_NOFOLLOW);
        try {
          await copyFileP(`/proc/self/fd/${src}`, at(pdir.fd, tmp), constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
        } finally {
          await closeFd(src);
        }
        await this.#finishTemp(pdir, tmp, S);
      }
      if (TP?.isDirectory()) await this.#remove(pdir, pname, TP);
    }, pname);
    if (asLink) d.links.add(S.dev, S.ino, d.map.sourceOf([...pdir.rel, pname]));
  }

  async #holdsSame(dir: DirHandle, name: Buffer, T: BigIntStats, src: Buffer, S: SourceStat): Promise<boolean> {
    switch (S.type) {
      case 'file': return this.#isCopyOf(dir.fd, name, T, S);
      case 'dir': return T.isDirectory();
      case 'symlink': {
        if (!T.isSymbolicLink()) return false;
        const [mine, theirs] = await Promise.all([readlinkAt(dir.fd, name), this.#d.transport.readlink(src)]);
        return mine.equals(theirs);
      }
      default: return false;
    }
  }

  /** lstat of every parent of `rel` below the root (checking the source root itself first), in one batch. */
  async #statParents(rel: readonly Buffer[]): Promise<(SourceStat | null)[]> {
    const d = this.#d;
    const ancestors = rel.slice(0, -1).map((_, i) => d.map.sourceOf(rel.slice(0, i + 1)));
    const stats = await d.transport.stat([d.map.sourceRoot, ...ancestors]);
    const root = stats[0];
    if (!root || root.type !== 'dir') {
      // An unmounted or vanished source root must never read as "everything was removed".
      throw new SubscriberError('HPM_SUB_SOURCE_ROOT', `source_root ${showPath(d.map.sourceRoot)} is ${root ? `a ${root.type}` : 'missing'} on the source`);
    }
    if (root.dev !== 0n) {
      this.#sourceRootDev ??= root.dev;
      // Nor must an empty mount point left by an unmounted file system.
      if (root.dev !== this.#sourceRootDev) {
        throw new SubscriberError('HPM_SUB_SOURCE_ROOT', `source_root ${showPath(d.map.sourceRoot)} is on another device than before (unmounted?); restart the subscriber after a deliberate change`);
      }
    }
    return stats.slice(1);
  }

  #walkPlan(rel: readonly Buffer[]): WalkPlan {
    const d = this.#d;
    return {
      sourceDirs: () => this.#statParents(rel),
      initDir: async (fd, source) => {
        await setAttrsFd(fd, source, d.attrs);
        await this.#records.write(fd, source);
      },
      onCreated: (created) => d.touched(d.map.sourceOf(created), false),
      replaceNonDir: async (parent, name, st) => this.#remove(parent, name, st),
    };
  }

  async #applyEntry(dir: DirHandle, name: Buffer, src: Buffer, S: SourceStat | null, opts: ReconcileOptions): Promise<{ step: Step; bytes: number; replacedDir?: boolean }> {
    const T = await lstatAt(dir.fd, name);
    if (T?.isDirectory() && S?.type !== 'dir' && opts.treeLocked !== true) throw new TreeLockNeeded(showPath(src));
    if (S === null || S.type === 'other') {
      // Sockets, fifos and devices are not mirrored: the path is treated as absent.
      if (T === null) return { step: 'unchanged', bytes: 0 };
      // Still the directory the source was read for, not one renamed in meanwhile (whose entry this is not).
      await this.#d.tree.verifyInside(dir);
      await this.#remove(dir, name, T);
      // Post-check, as for a write: `dir` was found after the source was read, and a directory rename
      // applied meanwhile by another worker (other path locks) may have brought in the entry the
      // source has again by now (`mv -T d3 d1` with d3/l1). Then it is put back, not left missing.
      const [after = null] = await this.#d.transport.stat([src]);
      return { step: after === null || after.type === 'other' ? 'removed' : 'source-changed', bytes: 0 };
    }
    switch (S.type) {
      case 'dir': return { ...(await this.#applyDir(dir, name, src, S, T)), bytes: 0 };
      case 'symlink': return { step: await this.#applySymlink(dir, name, src, S, T), bytes: 0 };
      default: return this.#applyFile(dir, name, src, S, T, opts);
    }
  }

  /**
   * mkdir/attrs; a directory carries a source record too (which source directory's entries it holds),
   * so that one now standing for another source directory is reported as `replacedDir`.
   */
  async #applyDir(dir: DirHandle, name: Buffer, src: Buffer, S: SourceStat, T: BigIntStats | null): Promise<{ step: Step; replacedDir?: boolean }> {
    const d = this.#d;
    let created = false;
    if (T && !T.isDirectory()) {
      await this.#remove(dir, name, T);
      T = null;
    }
    if (!T) {
      try {
        await d.tree.writable(dir.fd, () => mkdirAt(dir.fd, name, 0o700));
      } catch (err) {
        if (errnoOf(err) === 'EEXIST') return { step: 'source-changed' };
        throw err;
      }
      created = true;
    }
    // Known before the fd below exists: read by name (the record of what the directory held so far).
    const verdict = created ? 'unknown' : recordVerdict(await this.#records.read(dir.fd, name), S);
    let fd: number;
    try {
      fd = await openDirAt(dir.fd, name);
    } catch (err) {
      if (['ELOOP', 'ENOTDIR', 'ENOENT'].includes(errnoOf(err) ?? '')) return { step: 'source-changed' };
      throw err;
    }
    let changed: boolean;
    try {
      changed = await setAttrsFd(fd, S, d.attrs, T ?? undefined);
      // Recorded when made, when it stood for another source directory, and once for one made
      // before records existed. (Not on every change: a directory's ctime moves with each entry.)
      if (created || verdict === 'other' || verdict === 'unknown') await this.#records.write(fd, S);
    } finally {
      await closeFd(fd);
    }
    if (created) {
      if (d.fsync) await d.dirSync.sync(dir.fd);
      // A new directory may already have content on the source (moved in from outside the root).
      d.touched(src, false);
      return { step: 'written' };
    }
    if (verdict === 'other') return { step: 'written', replacedDir: true };
    return { step: changed ? 'attrs' : 'unchanged' };
  }

  async #applySymlink(dir: DirHandle, name: Buffer, src: Buffer, S: SourceStat, T: BigIntStats | null): Promise<Step> {
    const d = this.#d;
    let target: Buffer;
    try {
      target = await d.transport.readlink(src);
    } catch (err) {
      if (isSourceFlux(err)) return 'source-changed';
      throw err;
    }
    if (T?.isSymbolicLink() && (await readlinkAt(dir.fd, name)).equals(target)) {
      return (await setSymlinkAttrsAt(dir.fd, name, S, d.attrs, T)) ? 'attrs' : 'unchanged';
    }
    await this.#viaTemp(dir, async (tmp) => {
      await symlinkAt(target, dir.fd, tmp);
      await setSymlinkAttrsAt(dir.fd, tmp, S, d.attrs);
      if (T?.isDirectory()) await this.#remove(dir, name, T);
    }, name);
    const [after] = await d.transport.stat([src]);
    return sameVersion(S, after ?? null) ? 'written' : 'source-changed';
  }

  async #applyFile(dir: DirHandle, name: Buffer, src: Buffer, S: SourceStat, T: BigIntStats | null, opts: ReconcileOptions): Promise<{ step: Step; bytes: number }> {
    const d = this.#d;
    if (T && (await this.#isCurrentCopy(dir, name, T, src, S))) {
      const changed = await fixAttrsAt(dir.fd, name, S, d.attrs, false);
      if (S.nlink > 1 && S.ino !== 0n) {
        // `ln a b` when b's copy is already current (fetched for an earlier message): a was maybe
        // mirrored before it had a second name, so only the hint says who b's group is.
        for (const h of opts.linkHints ?? []) if (d.map.relOf(h) !== null) d.links.add(S.dev, S.ino, h);
        await this.#relinkGroup(dir, name, src, S);
      }
      return { step: changed ? 'attrs' : 'unchanged', bytes: 0 };
    }
    if (S.nlink > 1 && S.ino !== 0n) {
      const linked = await this.#linkFromGroup(dir, name, src, S, T, opts.linkHints ?? []);
      if (linked) return { step: 'written', bytes: 0 };
    }
    let bytes = 0;
    let sourceMoved = false;
    await this.#viaTemp(dir, async (tmp) => {
      const inline = opts.inline;
      let after: SourceStat | null;
      let finished = false;
      if (inline && inlineIsVersion(inline, S)) {
        const fd = await openAt(dir.fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
        try {
          await writeFileP(fd, inline.bytes);
          [after = null] = await d.transport.stat([src]);
          // Through the fd the bytes were written with, as a fetch's `finish` does: no second open.
          if (sameVersion(S, after)) {
            await this.#finishFd(fd, S);
            finished = true;
          }
        } finally {
          await closeFd(fd);
        }
      } else {
        try {
          const r = await d.transport.fetch(src, { dirFd: dir.fd, dirPath: dir.path, tempName: tmp }, {
            fsync: false, expect: S, signal: d.signal,
            // Through the fd the copy was written with: saves opening the temp file again.
            finish: async (fd, after) => {
              if (!sameVersion(S, after)) return false;
              await this.#finishFd(fd, S);
              return true;
            },
            ...(d.bwlimitBytesPerSec > 0 && { bwlimitBytesPerSec: d.bwlimitBytesPerSec }),
          });
          bytes = r.bytes;
          after = r.stat;
          finished = r.finished === true;
        } catch (err) {
          if (isSourceFlux(err)) { sourceMoved = true; return false; }
          throw err;
        }
      }
      // Post-check: the copy is only good if the source did not change while it was read.
      if (!sameVersion(S, after)) { sourceMoved = true; return false; }
      if (!finished) await this.#finishTemp(dir, tmp, S);
      if (T?.isDirectory()) await this.#remove(dir, name, T);
      return true;
    }, name);
    if (sourceMoved) return { step: 'source-changed', bytes };
    if (S.nlink > 1 && S.ino !== 0n) await this.#relinkGroup(dir, name, src, S);
    return { step: 'written', bytes };
  }

  /** Source record, owner, mode, mtime and fsync of a freshly written temp file, through our own fd. */
  async #finishTemp(dir: DirHandle, tmp: Buffer, S: SourceStat): Promise<void> {
    const fd = await openAt(dir.fd, tmp, O_RDONLY | O_NOFOLLOW);
    try {
      await this.#finishFd(fd, S);
    } finally {
      await closeFd(fd);
    }
  }

  async #finishFd(fd: number, S: SourceStat): Promise<void> {
    // Before the mode: a user xattr needs write permission on the file (a 0444 copy, not as root).
    await this.#records.write(fd, S);
    await setAttrsFd(fd, S, this.#d.attrs);
    if (this.#d.fsync) await fsyncFd(fd);
  }

  /**
   * Creates something under a fresh temp name in `dir` (fill), then renames it over `name`, then
   * fsyncs the directory. `fill` returns false to give up (the temp entry is removed, nothing renamed).
   */
  async #viaTemp(dir: DirHandle, fill: (tmp: Buffer) => Promise<boolean | void>, name: Buffer): Promise<boolean> {
    const d = this.#d;
    const tmp = d.temps.next();
    d.journal.begin(dir.rel, tmp);
    let placed = false;
    try {
      placed = await d.tree.writable(dir.fd, async () => {
        let renamed = false;
        try {
          if ((await fill(tmp)) === false) return false;
          await d.tree.verifyInside(dir);
          await renameAt(dir.fd, tmp, dir.fd, name);
          renamed = true;
          return true;
        } finally {
          if (!renamed) await removeTree(dir.fd, tmp).catch(() => undefined);
        }
      });
    } finally {
      d.journal.end(dir.rel, tmp);
    }
    if (!placed) return false;
    if (d.fsync) await d.dirSync.sync(dir.fd);
    return true;
  }

  /**
   * Whether dir/name holds S's content, so that no fetch is needed: same size and mtime, and the
   * source record (dest/source-record.ts) names S's inode and ctime. When it names the inode with
   * another ctime (metadata moved, or the inode number was reused by a re-created file) the content
   * decides, and the record is brought up to date when it matches.
   */
  async #isCurrentCopy(dir: DirHandle, name: Buffer, T: BigIntStats, src: Buffer, S: SourceStat): Promise<boolean> {
    if (!sameContent(T, S)) return false;
    const verdict = recordVerdict(await this.#records.read(dir.fd, name), S);
    if (verdict === 'other') return false;
    if (verdict === 'same' || (verdict === 'unknown' && S.nsPrecision)) return true;
    if (!(await this.#sameChecksum(dir, name, src))) return false;
    if (verdict === 'maybe') await this.#records.refresh(dir.fd, name, S);
    return true;
  }

  /**
   * Settles "same content?" with a checksum computed on the source, when the transport offers one,
   * else says no (fetch again): with whole-second source times (SFTP stat fallback) a same-size
   * rewrite within one second looks unchanged, and so does a re-created file that got the freed inode
   * number. (The SFTP transport has checksum() only while its helper runs: asking without one failed
   * every retry of the message.)
   */
  async #sameChecksum(dir: DirHandle, name: Buffer, src: Buffer): Promise<boolean> {
    const t = this.#d.transport;
    if (!t.checksum || t.features.serverSideHash !== true) return false;
    const theirs = await t.checksum(src, 'sha512');
    if (theirs === null) return false;
    const fd = await openAt(dir.fd, name, O_RDONLY | O_NOFOLLOW);
    try {
      const h = createHash('sha512');
      for await (const chunk of createReadStream('', { fd, autoClose: false })) h.update(chunk as Buffer);
      return h.digest('base64') === theirs;
    } finally {
      await closeFd(fd);
    }
  }

  /** A member of S's link group already mirrored with this content: link to it instead of fetching. */
  async #linkFromGroup(dir: DirHandle, name: Buffer, src: Buffer, S: SourceStat, T: BigIntStats | null, hints: Buffer[]): Promise<boolean> {
    const d = this.#d;
    // Registered before looking, so that a worker relinking the group meanwhile relinks this name too.
    d.links.add(S.dev, S.ino, src);
    const seen = new Set([pathKey(src)]);
    const candidates = [...hints, ...d.links.members(S.dev, S.ino, src)].filter((c) => {
      const k = pathKey(c);
      if (seen.has(k) || d.map.relOf(c) === null) return false;
      seen.add(k);
      return true;
    });
    if (candidates.length === 0) return false;
    const stats = await d.transport.stat(candidates);
    for (const [i, c] of candidates.entries()) {
      const cs = stats[i];
      if (!cs || cs.type !== 'file' || cs.dev !== S.dev || cs.ino !== S.ino) {
        d.links.drop(S.dev, S.ino, c);
        continue;
      }
      const crel = d.map.relOf(c)!;
      const cdir = await d.tree.openDir(crel.slice(0, -1));
      if (!cdir) continue;
      try {
        const cname = crel[crel.length - 1]!;
        const CT = await lstatAt(cdir.fd, cname);
        if (!CT || !(await this.#isCopyOf(cdir.fd, cname, CT, S))) continue;
        let ok = false;
        await this.#viaTemp(dir, async (tmp) => {
          try {
            await linkAt(cdir.fd, cname, dir.fd, tmp);
          } catch (err) {
            if (['EXDEV', 'ENOENT', 'EMLINK'].includes(errnoOf(err) ?? '')) return false;
            throw err;
          }
          const LT = await lstatAt(dir.fd, tmp);
          if (!LT || LT.ino !== CT.ino) return false;
          if (T?.isDirectory()) await this.#remove(dir, name, T);
          ok = true;
          return true;
        }, name);
        if (!ok) continue;
        await fixAttrsAt(dir.fd, name, S, d.attrs, true);
        d.links.add(S.dev, S.ino, src);
        d.links.add(S.dev, S.ino, c);
        return true;
      } finally {
        await closeFd(cdir.fd);
      }
    }
    return false;
  }

  /** After dir/name got new content, the other members of its source link group share it again. */
  async #relinkGroup(dir: DirHandle, name: Buffer, src: Buffer, S: SourceStat): Promise<void> {
    const d = this.#d;
    d.links.add(S.dev, S.ino, src);
    const mine = await lstatAt(dir.fd, name);
    if (!mine) return;
    // Members that join while we work (a worker linking its name to a member's copy we are about to
    // replace) are relinked too: they register before they look (see #linkFromGroup).
    const done = new Set<string>();
    for (;;) {
      const members = d.links.members(S.dev, S.ino, src).filter((m) => !done.has(pathKey(m)));
      if (members.length === 0) return;
      const stats = await d.transport.stat(members);
      for (const [i, m] of members.entries()) {
        done.add(pathKey(m));
        const ms = stats[i];
        if (!ms || ms.dev !== S.dev || ms.ino !== S.ino) {
          d.links.drop(S.dev, S.ino, m);
          continue;
        }
        const linked = await d.locks.tryWithLock(pathKey(m), async () => { await this.#linkMember(dir, name, mine, m); return true; });
        // The worker holding m may have looked for group members before this copy existed, and then
        // nobody would ever join the two (a split group for good): join them once it lets go.
        if (linked === undefined) this.#relinkLater(src, m);
      }
    }
  }

  /** Makes member m's destination a hard link to dir/name (`mine`), unless it already is. Holds m's lock. */
  async #linkMember(dir: DirHandle, name: Buffer, mine: BigIntStats, m: Buffer): Promise<void> {
    const d = this.#d;
    const mrel = d.map.relOf(m);
    if (!mrel || mrel.length === 0) return;
    const mdir = await d.tree.openDir(mrel.slice(0, -1));
    if (!mdir) return;
    try {
      const mname = mrel[mrel.length - 1]!;
      const MT = await lstatAt(mdir.fd, mname);
      if (MT && (MT.ino === mine.ino || MT.isDirectory())) return;
      await this.#viaTemp(mdir, async (tmp) => {
        try {
          await linkAt(dir.fd, name, mdir.fd, tmp);
        } catch (err) {
          if (['EXDEV', 'ENOENT', 'EMLINK'].includes(errnoOf(err) ?? '')) return false;
          throw err;
        }
        return true;
      }, mname);
    } finally {
      await closeFd(mdir.fd);
    }
  }

  /**
   * In the background, holding the locks of both paths (taken together, in order, while holding no
   * other): if src and m still share one source inode and src's destination copy is current, m's
   * destination becomes a link to it.
   */
  #relinkLater(src: Buffer, m: Buffer): void {
    const d = this.#d;
    void d.locks.withLocks([pathKey(src), pathKey(m)], async () => {
      if (d.signal.aborted) return;
      const [S, MS] = await d.transport.stat([src, m]);
      if (!S || !MS || S.type !== 'file' || S.ino === 0n || MS.dev !== S.dev || MS.ino !== S.ino) return;
      const rel = d.map.relOf(src);
      if (!rel || rel.length === 0) return;
      const dir = await d.tree.openDir(rel.slice(0, -1));
      if (!dir) return;
      try {
        const name = rel[rel.length - 1]!;
        const mine = await lstatAt(dir.fd, name);
        // Not current: the message announcing the newer content relinks the group when applied.
        if (!mine || !(await this.#isCopyOf(dir.fd, name, mine, S))) return;
        await this.#linkMember(dir, name, mine, m);
      } finally {
        await closeFd(dir.fd);
      }
    }).catch((err: unknown) => {
      d.logger.warn({ path: showPath(m), err: (err as Error).message }, 'hard-link group: relinking a member later failed; the next change of the group relinks it');
    });
  }

  /** Removes (or trashes) dir/name, counted by the delete guard. */
  async #remove(dir: DirHandle, name: Buffer, T: BigIntStats): Promise<void> {
    const d = this.#d;
    await d.tree.writable(dir.fd, async () => {
      if (d.trash) {
        d.guard.take();
        await d.trash.move(dir.fd, name, [...dir.rel, name]);
        d.onRemoved?.(1);
      } else if (T.isDirectory()) {
        const n = await removeTree(dir.fd, name, { beforeEach: () => d.guard.take(), writable: (fd, fn) => d.tree.writable(fd, fn) });
        d.onRemoved?.(n);
      } else {
        d.guard.take();
        try {
          await unlinkAt(dir.fd, name);
        } catch (err) {
          if (errnoOf(err) !== 'ENOENT') throw err;
        }
        d.onRemoved?.(1);
      }
    });
    if (d.fsync) await d.dirSync.sync(dir.fd);
  }

  #checkAborted(): void {
    if (this.#d.signal.aborted) throw new SubscriberError('HPM_SUB_STOPPING', 'subscriber is stopping');
  }
}

/** Whether `inner` lies strictly below `outer` (a directory renamed into itself). */
function isInside(inner: readonly Buffer[], outer: readonly Buffer[]): boolean {
  return inner.length > outer.length && outer.every((c, i) => c.equals(inner[i]!));
}

/** The inline bytes are the source's current version: same size and mtime, and ctime and inode when the message has them. */
function inlineIsVersion(inline: NonNullable<ReconcileOptions['inline']>, S: SourceStat): boolean {
  if (inline.size !== S.size || inline.bytes.length !== S.size || inline.mtimeNs !== S.mtimeNs) return false;
  // Without the helper's stat (SFTP fallback) ctime and inode are unknown: fetch rather than trust.
  if ((inline.ctimeNs !== undefined || inline.ino !== undefined) && !S.nsPrecision) return false;
  if (inline.ctimeNs !== undefined && inline.ctimeNs !== S.ctimeNs) return false;
  return inline.ino === undefined || inline.ino === S.ino;
}
