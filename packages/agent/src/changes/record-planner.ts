import type { DirtySet } from '../dirty/dirty-set.js';
import type { ChangeIntent } from './change-intent.js';
import type { PathFilter } from './path-filter.js';
import { RecordFlag, type SpoolRecord } from '../spool/record.js';

/** A decoded record plus the host part of the segment it came from. */
export interface SpoolEvent {
  host: string;
  record: SpoolRecord;
}

export interface PlanResult {
  intents: ChangeIntent[];
  /** An op code this agent does not know (a newer shim): counted, skipped. */
  unknownOp?: boolean;
}

/**
 * Turns one spool record into what to announce (semantics.md "Renames across boundaries",
 * SPOOL.md "Operations") and keeps the dirty set up to date. Synchronous and free of I/O, so the
 * order of decisions is the spool order.
 */
export class RecordPlanner {
  readonly #filter: PathFilter;
  readonly #dirty: DirtySet;

  constructor(filter: PathFilter, dirty: DirtySet) {
    this.#filter = filter;
    this.#dirty = dirty;
  }

  plan({ host, record: r }: SpoolEvent, nowMs: number): PlanResult {
    const ev = {
      host, op: r.op, pid: r.pid, timeNs: r.timeNs, stat: r.stat, path: r.path, path2: r.path2,
      isDirectory: (r.flags & RecordFlag.DIR) !== 0,
      isSymlink: (r.flags & RecordFlag.SYMLINK) !== 0,
      exchange: (r.flags & RecordFlag.EXCHANGE) !== 0,
      unchanged: (r.flags & RecordFlag.UNCHANGED) !== 0,
    };
    const accepted = (p: Buffer | undefined): p is Buffer => p !== undefined && p.length > 0 && this.#filter.accepts(p);
    const base = { eventNs: ev.timeNs, isDirectory: ev.isDirectory, isSymlink: ev.isSymlink };
    const one = (i: ChangeIntent): PlanResult => ({ intents: [i] });
    const none: PlanResult = { intents: [] };
    switch (ev.op) {
      case 'OPEN_W':
        if (accepted(ev.path)) this.#dirty.open(ev.host, ev.pid, ev.path, ev.timeNs, nowMs);
        return none;
      case 'CLOSE_W': {
        const now = this.#dirty.close(ev.host, ev.pid, ev.path, ev.timeNs, !ev.unchanged, nowMs);
        if (now !== 'announce' || !accepted(ev.path)) return none;
        return one({ kind: 'typed', path: ev.path, ...base, ...(ev.stat && { stat: ev.stat }) });
      }
      case 'CHANGED':
        return accepted(ev.path) ? one({ kind: 'typed', path: ev.path, ...base, ...(ev.stat && { stat: ev.stat }) }) : none;
      case 'META':
        // chmod/chown/utimes/truncate: what counts is the state now, so always a fresh lstat.
        return accepted(ev.path) ? one({ kind: 'typed', path: ev.path, ...base, freshStat: true, ...(ev.stat && { stat: ev.stat }) }) : none;
      case 'RENAME':
        return { intents: this.#rename(ev, accepted) };
      case 'LINK': {
        if (!accepted(ev.path)) return none;
        if (accepted(ev.path2)) return one({ kind: 'hardlink', path: ev.path, hlinkTo: ev.path2, ...base, ...(ev.stat && { stat: ev.stat }), freshStat: !ev.stat });
        // O_TMPFILE + linkat, or a link to a file we do not mirror: the new name is new content.
        return one({ kind: 'typed', path: ev.path, ...base, ...(ev.stat && { stat: ev.stat }) });
      }
      case 'SYMLINK':
        if (!accepted(ev.path)) return none;
        return one({ kind: 'symlink', path: ev.path, linkTarget: ev.path2 ?? Buffer.alloc(0), ...base, isSymlink: true, ...(ev.stat && { stat: ev.stat }) });
      case 'UNLINK':
        this.#dirty.remove(ev.path);
        return accepted(ev.path) ? one({ kind: 'remove', path: ev.path, ...base }) : none;
      case 'MKDIR':
        return accepted(ev.path) ? one({ kind: 'mkdir', path: ev.path, ...base, isDirectory: true, ...(ev.stat && { stat: ev.stat }), freshStat: !ev.stat }) : none;
      case 'RMDIR':
        return accepted(ev.path) ? one({ kind: 'rmdir', path: ev.path, ...base, isDirectory: true }) : none;
      case 'EXIT':
        return {
          intents: this.#dirty.release(ev.host, ev.pid, ev.timeNs, 'exit')
            .filter((c) => accepted(c.path))
            .map((c) => ({ kind: 'typed' as const, path: c.path, eventNs: c.eventNs })),
        };
      default:
        return { intents: [], unknownOp: true };
    }
  }

  #rename(ev: { timeNs: bigint; path: Buffer; path2: Buffer | undefined; isDirectory: boolean; isSymlink: boolean; exchange: boolean }, accepted: (p: Buffer | undefined) => p is Buffer): ChangeIntent[] {
    const newPath = ev.path;
    const oldPath = ev.path2;
    const hints = { eventNs: ev.timeNs, isDirectory: ev.isDirectory, isSymlink: ev.isSymlink };
    if (!oldPath || oldPath.length === 0) {
      return accepted(newPath) ? [{ kind: 'typed', path: newPath, ...hints, freshStat: true }] : [];
    }
    if (ev.exchange) {
      // Both names still exist, each now holding the other's inode: two changes, types from lstat.
      this.#dirty.exchange(oldPath, newPath);
      return [newPath, oldPath]
        .filter((p) => accepted(p))
        .map((p) => ({ kind: 'typed' as const, path: p, eventNs: ev.timeNs, freshStat: true, scanIfDirectory: true }));
    }
    this.#dirty.rename(oldPath, newPath, ev.isDirectory);
    const oldIn = accepted(oldPath);
    const newIn = accepted(newPath);
    if (oldIn && newIn) return [{ kind: 'rename', path: newPath, oldPath, ...hints }];
    if (newIn) return [{ kind: 'typed', path: newPath, ...hints, freshStat: true, scanIfDirectory: true }];
    if (oldIn) return [{ kind: ev.isDirectory ? 'rmdir' : 'remove', path: oldPath, ...hints }];
    return [];
  }
}
