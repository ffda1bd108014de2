import {
  checkRelPath, decodeAnnouncement, decodePathField, HpcmError, isUnder, parseTime,
  type Announcement, type Delivery, type Logger,
} from '@hpcmirror/core';
import type { Clock } from './clock.js';
import type { HardLinkIndex } from './hard-link-index.js';
import { dispositionOf, isSubscriberError, reasonOf, SubscriberError } from './errors.js';
import type { LatencyHistogram } from './latency-histogram.js';
import type { LatencyLogWriter } from './latency-log.js';
import type { SubscriberCounters } from './metrics.js';
import { pathKey, showPath } from './path-bytes.js';
import type { PathLocks } from './path-locks.js';
import type { PathMap } from './path-map.js';
import type { PostAfterCopy } from './post-after-copy.js';
import { seqsOf, type ProgressReporter, type ProgressState } from './progress-reporter.js';
import type { ReconcileOptions, ReconcileResult, Reconciler } from './reconciler.js';
import type { SubscriberSettings } from './settings.js';
import type { SourceHealth } from './source-health.js';
import { isTransportError } from './transports/errors.js';
import { isTempName } from './temp-names.js';
import type { WorkerPool } from './worker-pool.js';

export interface MessageHandlerDeps {
  settings: SubscriberSettings;
  map: PathMap;
  reconciler: Reconciler;
  /** The reconciler's hard-link index: which source names are known to share an inode. */
  links: HardLinkIndex;
  locks: PathLocks;
  progress: ProgressReporter;
  latencyLog: LatencyLogWriter;
  histogram: LatencyHistogram;
  counters: SubscriberCounters;
  post: PostAfterCopy | undefined;
  clock: Clock;
  logger: Logger;
  isStopping: () => boolean;
  /** Compares a whole source subtree with the destination now (anti-entropy, synchronously). */
  syncTree: (sourceDir: Buffer) => Promise<void>;
  /** Told when an apply fails on the connection to the source, and when one succeeds again (status: degraded). */
  source?: SourceHealth;
}

/** What one validated message asks the reconciler to do. */
interface Job {
  ann: Announcement;
  /** Source path read and fetched (relPath, or retrievePath). */
  src: Buffer;
  opts: ReconcileOptions;
  /** Path locks to hold. */
  keys: string[];
  /** hardlink: the name it was linked to, reconciled too (under its lock) so the group is known. */
  linkedTo?: Buffer;
}

/** Kinds whose whole effect is "reconcile this one path" (but see `supersedable`). */
const SINGLE_PATH = new Set(['content', 'remove', 'mkdir', 'rmdir', 'symlink']);

/**
 * One delivery from the broker, start to finish: validate (park what is invalid, before anything
 * touches the disk), filter, reconcile under the path lock in a worker of the pool, then report
 * progress (with confirms) and only then ack. Failures are parked or retried by their error type.
 */
export class MessageHandler {
  readonly #d: MessageHandlerDeps;

  constructor(deps: MessageHandlerDeps) {
    this.#d = deps;
  }

  async handle(delivery: Delivery, pool: WorkerPool): Promise<void> {
    const d = this.#d;
    const arrival = d.locks.tick();
    d.counters.received++;
    if (d.isStopping()) {
      // Left unacked: the broker hands it back when the channel closes (a nack now would only have it
      // delivered to us again at once, over and over until then).
      d.counters.requeued++;
      return;
    }
    let ann: Announcement;
    try {
      ann = decodeAnnouncement(delivery.content, { maxBytes: d.settings.sub.max_body_bytes, sourceRoot: d.settings.sourceRoot });
    } catch (err) {
      await this.#park(delivery, seqsOfRaw(delivery.content), reasonOf(err), undefined);
      return;
    }
    const progress = seqsOf(ann.body);
    const relPath = ann.body.relPath;
    let job: Job;
    try {
      job = this.#validate(ann);
    } catch (err) {
      await this.#park(delivery, progress, reasonOf(err), relPath);
      return;
    }
    const skip = this.#skipReason(ann.path);
    if (skip !== undefined) {
      d.logger.debug({ path: showPath(ann.path), why: skip }, 'message filtered out');
      d.counters.suppressed++;
      await this.#finish(delivery, progress, 'suppressed', `filtered by the subscriber: ${skip}`);
      return;
    }
    for (const w of ann.warnings) {
      d.counters.warnings++;
      d.logger.warn({ path: showPath(ann.path), warning: w }, 'message field not followed');
    }
    try {
      // Most changes leave directories where they are: workers below a path go on meanwhile. A
      // directory moved or removed holds its whole subtree (path-locks.ts).
      const result = await d.locks.withLocksEscalating(job.keys, async (treeLocked) => {
        if (d.isStopping()) throw new SubscriberError('HPM_SUB_STOPPING', 'subscriber is stopping');
        if (supersedable(job) && d.locks.reconciledAfter(job.keys[0]!, arrival)) return 'superseded' as const;
        return pool.run(() => this.#apply(job, treeLocked));
      }, treeLockedKind(job) ? 'tree' : 'entry');
      // Outside the locks (the walk takes each path's own); before the report, so `wait` covers it.
      if (result !== 'superseded') for (const dir of result.subtrees ?? []) await d.syncTree(dir);
      for (const name of this.#otherNamesOfInode(job, result)) {
        await d.locks.withLocksEscalating([pathKey(name)], (treeLocked) => pool.run(() => d.reconciler.reconcile(name, { treeLocked })));
      }
      this.#account(ann, result);
      // One line per message at debug level: which message covered which change, for a replay.
      d.logger.debug({ path: showPath(ann.path), kind: ann.kind, seqs: progress?.seqs, outcome: result === 'superseded' ? result : result.outcome }, 'message applied');
      if (result !== 'superseded' && d.post && ['written', 'attrs', 'removed'].includes(result.outcome)) {
        const eventNs = eventNsOf(ann);
        await d.post.post({ path: result.destPath, type: result.type, ...(eventNs !== undefined && { eventNs }) });
      }
      if (result !== 'superseded' && d.source && !d.source.reachable) {
        d.source.up();
        d.logger.info('source host reachable again');
      }
      await this.#finish(delivery, progress, 'applied');
    } catch (err) {
      if (isTransportError(err) && err.code === 'HPM_TRANSPORT_CONNECTION') d.source?.down(reasonOf(err));
      await this.#fail(delivery, progress, err, relPath);
    }
  }

  #validate(ann: Announcement): Job {
    const s = this.#d.settings;
    if (!s.allow.allows(ann.body.baseUrl)) {
      throw new SubscriberError('HPM_SUB_BASEURL_DENIED', `baseUrl ${ann.body.baseUrl} is not in base_url_allow (${s.allow.description})`);
    }
    if (!isUnder(ann.path, s.sourceRoot)) {
      throw new HpcmError('HPM_PATH_OUTSIDE_ROOT', `relPath: ${showPath(ann.path)} is outside source_root ${showPath(s.sourceRoot)}`, { field: 'relPath' });
    }
    const enc = ann.body.hpcm_pathEncoding;
    const opts: ReconcileOptions = {};
    let src = ann.path;
    // v03 extras honoured on receipt: fetch from retrievePath, write under a top-level rename.
    if (typeof ann.body.retrievePath === 'string' && ann.kind === 'content') {
      src = this.#underRoot(checkRelPath(decodePathField(ann.body.retrievePath, enc), 'retrievePath'), 'retrievePath');
    }
    if (typeof ann.body.rename === 'string' && ann.kind === 'content') {
      const to = this.#underRoot(checkRelPath(decodePathField(ann.body.rename, enc), 'rename'), 'rename');
      opts.destRel = this.#d.map.relOf(to)!;
    }
    if (!opts.destRel && !src.equals(ann.path)) opts.destRel = this.#d.map.relOf(ann.path)!;
    if (ann.kind === 'hardlink' && ann.hlinkTo) opts.linkHints = [ann.hlinkTo];
    const content = ann.body.content;
    if (content && ann.kind === 'content') {
      opts.inline = {
        bytes: Buffer.from(content.value, content.encoding === 'base64' ? 'base64' : 'utf8'),
        size: ann.size,
        mtimeNs: ann.mtimeNs,
        ctimeNs: ann.ctimeNs,
        ino: ann.ino,
      };
    }
    const keys = [pathKey(src)];
    if (ann.oldPath) keys.push(pathKey(ann.oldPath));
    const h = ann.kind === 'hardlink' ? ann.hlinkTo : undefined;
    const linkedTo = h && !h.equals(src) && this.#skipReason(h) === undefined ? h : undefined;
    if (linkedTo) keys.push(pathKey(linkedTo));
    return { ann, src, opts, keys, ...(linkedTo && { linkedTo }) };
  }

  /**
   * A write through one name of a hard-link group changes the content of every name, and only that
   * name is announced. When the reconcile found the announced inode at that name, it relinked the
   * group; when it did not (the name was renamed on, removed or replaced before this ran, or a later
   * reconcile of it superseded this message), the other names known to share the inode are reconciled
   * here, each under its own lock, or they would keep the old content until anti-entropy came by.
   */
  #otherNamesOfInode(job: Job, result: ReconcileResult | 'superseded'): Buffer[] {
    const { kind, ino } = job.ann;
    if (kind !== 'content' || ino === undefined || ino === 0n) return [];
    if (result !== 'superseded' && result.source?.ino === ino) return [];
    return this.#d.links.membersOfIno(ino, job.src).filter((m) => this.#skipReason(m) === undefined);
  }

  /** Why a path is not the subscriber's to mirror (accept/reject, or one of our temp names), else undefined. */
  #skipReason(path: Buffer): string | undefined {
    return this.#d.settings.filter.rejectedBy(path) ?? (isTempName(baseName(path)) ? 'an hpcmirror temp name' : undefined);
  }

  #underRoot(path: Buffer, field: string): Buffer {
    if (!isUnder(path, this.#d.settings.sourceRoot)) {
      throw new HpcmError('HPM_PATH_OUTSIDE_ROOT', `${field}: ${showPath(path)} is outside source_root`, { field });
    }
    return path;
  }

  async #apply(job: Job, treeLocked: boolean): Promise<ReconcileResult> {
    const r = this.#d.reconciler;
    if (isRename(job)) return r.rename(job.ann.oldPath!, job.src);
    const result = await r.reconcile(job.src, { ...job.opts, treeLocked });
    // `ln a b` is announced for b only. If b was renamed on before this ran (`ln a b; mv b c`), c's
    // message finds no other name of its inode in the index and fetches its own copy: the group
    // splits for good, since nothing more is announced for a. Reconciled here, a joins the index
    // (and relinks the members already known), whichever of the two messages runs first.
    if (job.linkedTo) await r.reconcile(job.linkedTo, { treeLocked, linkHints: [job.src] });
    // hpcm_subtree: the entries below were swapped in wholesale (RENAME_EXCHANGE of two directories)
    // and are announced by no other message; the directory's own record may match all the same (the
    // destination made after both swaps of `exchange d0 d1; ...; exchange d0 d1`).
    if (job.ann.subtree && result.type === 'dir' && !result.subtrees?.length) return { ...result, subtrees: [job.src] };
    return result;
  }

  #account(ann: Announcement, result: ReconcileResult | 'superseded'): void {
    const d = this.#d;
    const c = d.counters;
    c.applied++;
    if (result === 'superseded') c.superseded++;
    else {
      c.bytes += result.bytes;
      if (result.outcome === 'parent-gone') c.parentGone++;
      else c[result.outcome]++;
    }
    const eventNs = eventNsOf(ann);
    if (eventNs === undefined) return;
    const appliedNs = d.clock.nowNs();
    d.latencyLog.record({ eventNs, appliedNs, op: ann.kind });
    d.histogram.observe(Number(appliedNs - eventNs) / 1e6);
  }

  /** Reports the message's seqs (waiting for the confirm), then acks it. */
  async #finish(delivery: Delivery, progress: ReturnType<typeof seqsOf>, state: ProgressState, reason?: string): Promise<void> {
    if (progress) {
      try {
        await this.#d.progress.report({ ...progress, state, ...(reason !== undefined && { reason }) });
      } catch (err) {
        // Not acked: the broker redelivers it and the report is made again.
        this.#d.logger.warn({ err: reasonOf(err) }, 'progress report failed; message requeued');
        delivery.requeue();
        this.#d.counters.requeued++;
        return;
      }
    }
    delivery.ack();
  }

  async #park(delivery: Delivery, progress: ReturnType<typeof seqsOf>, reason: string, relPath: string | undefined): Promise<void> {
    const d = this.#d;
    d.counters.parked++;
    d.logger.warn({ reason, relPath }, 'message parked');
    try {
      if (progress) await d.progress.report({ ...progress, state: 'parked', reason, ...(relPath !== undefined && { path: relPath }) });
      await delivery.park(reason);
    } catch (err) {
      d.logger.warn({ err: reasonOf(err) }, 'parking failed; message requeued');
      delivery.requeue();
    }
  }

  async #fail(delivery: Delivery, progress: ReturnType<typeof seqsOf>, err: unknown, relPath: string): Promise<void> {
    const d = this.#d;
    const reason = reasonOf(err);
    switch (dispositionOf(err)) {
      case 'park':
        await this.#park(delivery, progress, reason, relPath);
        return;
      case 'requeue':
        // Stopping: left unacked, back to the queue when the channel closes.
        d.counters.requeued++;
        return;
      default:
        d.counters.retried++;
        // A paused remove is the guard working, not a failure: keep the log quiet about each one.
        d.logger[isSubscriberError(err, 'HPM_SUB_DELETE_PAUSED') ? 'debug' : 'info']({ relPath, reason, attempt: delivery.attempts + 1 }, 'apply failed; retrying with backoff');
        if (delivery.attempts + 1 >= d.settings.sub.max_attempts && progress) {
          // Delivery.retry parks it now: report that, so `wait` is not left hanging.
          await d.progress.report({ ...progress, state: 'parked', reason: `gave up after ${delivery.attempts + 1} attempts: ${reason}`, path: relPath }).catch(() => undefined);
          d.counters.parked++;
        }
        await delivery.retry(reason).catch(() => delivery.requeue());
    }
  }
}

const isRename = (job: Job): boolean => job.ann.oldPath !== undefined && (job.ann.kind === 'rename' || job.ann.kind === 'symlink');

/**
 * Whether the message's whole effect is a reconcile of its one path, so that a reconcile of that path
 * which read the source after it arrived stands for it. Not a rename (a symlink moved by rename too:
 * its old name must go), nor a subtree message (its entries are compared too), nor one written under
 * another name.
 */
const supersedable = (job: Job): boolean =>
  SINGLE_PATH.has(job.ann.kind) && !isRename(job) && !job.ann.subtree && !job.opts.destRel;

/** Kinds that move or remove what is at their paths: their keys are locked with everything below. */
const treeLockedKind = (job: Job): boolean => isRename(job) || job.ann.kind === 'remove' || job.ann.kind === 'rmdir';

function baseName(p: Buffer): Buffer {
  return p.subarray(p.lastIndexOf(0x2f) + 1);
}

/** The source event time: hpcm_eventNs when the agent set it, else pubTime. */
function eventNsOf(ann: Announcement): bigint | undefined {
  const e = ann.body.hpcm_eventNs;
  if (typeof e === 'string' && /^\d+$/.test(e)) return BigInt(e);
  return parseTime(ann.body.pubTime);
}

/** Progress identity of a body that failed validation (best effort: it may not even be JSON). */
function seqsOfRaw(content: Buffer): ReturnType<typeof seqsOf> {
  try {
    const v = JSON.parse(content.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? seqsOf(v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
