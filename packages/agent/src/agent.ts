import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  describeError,
  percentEncodeBytes,
  progressNames,
  silentLogger,
  type BrokerConnection,
  type LoadedConfig,
  type Publisher,
} from '@hpcmirror/core';
import { ChangeResolver, type ResolvedChange } from './changes/change-resolver.js';
import type { ChangeIntent } from './changes/change-intent.js';
import { lstatPath } from './changes/file-stat.js';
import { PathFilter } from './changes/path-filter.js';
import { RecordPlanner } from './changes/record-planner.js';
import { readAgentState, writeAgentState, type AgentStateJson, type ScanRequestJson, type SegmentStateJson } from './checkpoint/agent-state.js';
import { SegmentCheckpoints } from './checkpoint/segment-checkpoints.js';
import { SeqLedger } from './checkpoint/seq-ledger.js';
import { nowMsOf, systemClock, type Clock } from './clock.js';
import { DirtySet } from './dirty/dirty-set.js';
import { StateLock } from './fs/state-lock.js';
import { procPidLiveness, type PidLiveness } from './dirty/pid-liveness.js';
import { newCounters, type AgentCounters, type AgentMetrics } from './metrics.js';
import { ProgressConsumer } from './progress/progress-consumer.js';
import { ProgressTracker } from './progress/progress-tracker.js';
import { Announcer } from './publish/announcer.js';
import { OutboxJournal } from './publish/outbox-journal.js';
import { PublishWindow } from './publish/publish-window.js';
import { connectBroker, sourcePublisher } from './publish/source-publisher.js';
import { parseLossMarkerName, parseSegmentName, type SegmentName } from './spool/segment-name.js';
import { SegmentReader, type SegmentChunk } from './spool/segment-reader.js';
import { prepareSpoolDir } from './spool/spool-dir.js';
import { SpoolWakeup } from './spool/spool-wakeup.js';
import { settlesWithin } from './time-box.js';
import { agentStatePaths, resolveAgentSettings, type AgentInputConfig, type AgentSettings, type AgentStatePaths } from './settings.js';

export type ScanReason = ScanRequestJson['reason'];

/** Asks for a catch-up scan: changes since `sinceNs` (0 = everything) under `dir` (default: source_root). */
export type ScheduleScan = (sinceNs: bigint, dir: Buffer | undefined, reason: ScanReason) => void;

export interface AgentOptions {
  config: AgentInputConfig & Partial<Pick<LoadedConfig, 'credentials'>>;
  logger?: Logger;
  clock?: Clock;
  /** Called for every catch-up scan the agent asks for (also emitted as 'scan' and kept in agent-state.json). */
  scheduleScan?: ScheduleScan;
  env?: NodeJS.ProcessEnv;
  /** Announcements in flight (journaled, not yet confirmed). */
  window?: number;
  /** How often the dirty set is checked (dead writers, quiet files). */
  sweepMs?: number;
  /** How often the checkpoint is written when something changed. */
  checkpointMs?: number;
  pidLiveness?: PidLiveness;
  /** fdatasync the outbox journal before publishing (default true). */
  syncJournal?: boolean;
}

export interface Agent {
  start(): Promise<void>;
  stop(): Promise<void>;
  metrics(): AgentMetrics;
  readonly statePaths: AgentStatePaths;
  readonly settings: AgentSettings;
  on(event: 'scan', fn: (req: { sinceNs: bigint; dir: Buffer | undefined; reason: ScanReason }) => void): this;
}

interface TrackedSegment {
  name: SegmentName;
  reader: SegmentReader;
  /** Time of the last good record (scan --since after a corrupt stretch). */
  lastGoodNs: bigint | undefined;
}

const PASS_BUDGET_BYTES = 4 << 20;
const MAX_SCANS_KEPT = 100;
const STOP_CONFIRM_WAIT_MS = 5_000;

/** The spool tailer: spool records in, v03 announcements out, with checkpoints and progress. */
class SpoolAgent extends EventEmitter implements Agent {
  readonly settings: AgentSettings;
  readonly statePaths: AgentStatePaths;
  readonly #o: AgentOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #counters: AgentCounters = newCounters();
  readonly #ledger = new SeqLedger();
  readonly #dirty = new DirtySet();
  readonly #filter: PathFilter;
  readonly #planner: RecordPlanner;
  readonly #resolver: ChangeResolver;
  readonly #checkpoints = new SegmentCheckpoints(() => { this.#stateChanged = true; });
  readonly #segments = new Map<string, TrackedSegment>();
  readonly #liveness: PidLiveness;
  #savedSegments: Record<string, SegmentStateJson> = {};
  #scans: ScanRequestJson[] = [];
  #connection: BrokerConnection | undefined;
  #publisher: Publisher | undefined;
  #journal: OutboxJournal | undefined;
  #window: PublishWindow | undefined;
  #announcer: Announcer | undefined;
  #progress: ProgressConsumer | undefined;
  #progressTracker: ProgressTracker;
  #wakeup: SpoolWakeup | undefined;
  #lock: StateLock | undefined;
  #timers: NodeJS.Timeout[] = [];
  #started = false;
  #stopping = false;
  #stateChanged = true;
  #exclusive: Promise<void> = Promise.resolve();
  #passQueued = false;
  #passAgain = false;
  #sweepQueued = false;
  #deleteQueued = false;
  #saving: Promise<void> | undefined;
  #spoolBytes = 0;
  /**
   * Dirty files taken out of the dirty set (writer exited, quiet, gone) whose announcement is not
   * in the journal yet: a checkpoint taken meanwhile must still list them.
   */
  readonly #limbo = new Map<string, { path: Buffer; eventNs: bigint }>();

  constructor(o: AgentOptions) {
    super();
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
    this.#clock = o.clock ?? systemClock;
    this.settings = resolveAgentSettings(o.config, o.env);
    this.statePaths = agentStatePaths(o.config);
    const a = this.settings.agent;
    this.#filter = new PathFilter(this.settings.sourceRoot, a.accept, a.reject);
    this.#planner = new RecordPlanner(this.#filter, this.#dirty);
    this.#resolver = new ChangeResolver({ identity: a.identity, inlineMaxBytes: a.inline_max_bytes });
    this.#liveness = o.pidLiveness ?? procPidLiveness(this.settings.spoolHost);
    this.#progressTracker = new ProgressTracker(this.settings.host);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#stopping = false;
    const s = this.settings;
    try {
      await prepareSpoolDir(s.spoolDir, s.sourceRoot.toString());
      await mkdir(this.statePaths.dir, { recursive: true, mode: 0o700 });
      this.#lock = new StateLock(join(this.statePaths.dir, 'agent.lock'));
      await this.#lock.acquire();
      await this.#loadState();
      this.#journal = new OutboxJournal(this.statePaths.outboxDir, { sync: this.#o.syncJournal ?? true });
      const { unconfirmed, maxSeq, torn } = await this.#journal.open((seq) => this.#ledger.isConfirmed(seq));
      this.#ledger.raiseAssigned(maxSeq);
      if (torn) this.#log.warn({ torn }, 'outbox journal had torn lines (a crash mid-write); they were never published');

      this.#connection = connectBroker(this.#o.config as LoadedConfig, this.#log, `hpcmirror-agent ${s.host}`);
      this.#publisher = sourcePublisher(this.#connection, this.#o.config as LoadedConfig);
      this.#window = new PublishWindow(this.#o.window ?? 1000);
      this.#announcer = new Announcer({
        publisher: this.#publisher,
        journal: this.#journal,
        window: this.#window,
        ledger: this.#ledger,
        counters: this.#counters,
        clock: this.#clock,
        logger: this.#log,
        exchange: s.exchange,
        baseUrl: s.agent.base_url,
        host: s.host,
        cluster: s.cluster,
        source: s.user,
        maxBodyBytes: s.maxBodyBytes,
      });
      this.#progress = new ProgressConsumer({
        connection: this.#connection,
        names: progressNames(s, s.host),
        queueType: this.#o.config.broker.queue_type ?? 'classic',
        tracker: this.#progressTracker,
        file: this.statePaths.progress,
        assigned: () => this.#ledger.assigned,
        clock: this.#clock,
        logger: this.#log,
      });
      await this.#progress.start();

      if (unconfirmed.length) this.#log.info({ count: unconfirmed.length }, 'publishing again what the last run journaled but never saw confirmed');
      this.#runExclusive(async () => {
        for (const e of unconfirmed) if (!(await this.#announcer!.replay(e))) return;
      });

      this.#wakeup = new SpoolWakeup({ dir: s.spoolDir, shared: s.agent.spool_shared, pollMs: s.agent.poll_ms, onWake: () => this.#requestPass() });
      this.#wakeup.start();
      const quietMs = s.agent.dirty_quiet_s * 1000;
      const sweepMs = this.#o.sweepMs ?? Math.min(5000, Math.max(250, quietMs / 4));
      this.#timers.push(setInterval(() => this.#requestSweep(), sweepMs));
      this.#timers.push(setInterval(() => void this.#saveState(), this.#o.checkpointMs ?? 200));
      if (s.agent.safety_scan_s > 0) {
        const periodNs = BigInt(Math.round(s.agent.safety_scan_s * 1e9));
        this.#timers.push(setInterval(() => this.#scheduleScan(this.#clock.nowNs() - periodNs, undefined, 'safety'), s.agent.safety_scan_s * 1000));
      }
      this.#requestPass();
      this.#log.info({ spool: s.spoolDir, state: this.statePaths.dir, exchange: s.exchange, host: s.host, assigned: this.#ledger.assigned }, 'agent started');
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.#started || this.#stopping) return;
    this.#stopping = true;
    this.#wakeup?.stop();
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#announcer?.stop(STOP_CONFIRM_WAIT_MS);
    await settlesWithin(this.#exclusive, STOP_CONFIRM_WAIT_MS);
    await this.#journal?.close().catch((err: unknown) => this.#log.warn({ err: describeError(err) }, 'closing the outbox journal failed'));
    if (this.#journal) await this.#saveState(true).catch((err: unknown) => this.#log.error({ err: describeError(err) }, 'final checkpoint failed'));
    await this.#progress?.stop().catch(() => undefined);
    await this.#publisher?.close().catch(() => undefined);
    await this.#connection?.close().catch(() => undefined);
    for (const t of this.#segments.values()) await t.reader.close().catch(() => undefined);
    this.#segments.clear();
    // A later start() begins from what is on disk, like a new process would.
    this.#checkpoints.clear();
    this.#dirty.clear();
    this.#limbo.clear();
    this.#passQueued = this.#passAgain = this.#sweepQueued = this.#deleteQueued = false;
    this.#exclusive = Promise.resolve();
    this.#lastSaved = undefined;
    await this.#lock?.release();
    this.#lock = undefined;
    this.#journal = undefined;
    this.#announcer = undefined;
    this.#progress = undefined;
    this.#publisher = undefined;
    this.#connection = undefined;
    this.#started = false;
    this.#log.info({ assigned: this.#ledger.assigned, confirmed: this.#ledger.confirmedBelow }, 'agent stopped');
  }

  metrics(): AgentMetrics {
    let backlog = 0;
    for (const [name, t] of this.#segments) backlog += Math.max(0, t.reader.size - (this.#checkpoints.checkpoint(name) ?? 0));
    return {
      ...this.#counters,
      pending: this.#window?.inFlight ?? 0,
      dirtySetSize: this.#dirty.size,
      spoolBytes: this.#spoolBytes,
      backlogBytes: backlog,
      segments: this.#segments.size,
      assignedSeq: this.#ledger.assigned,
      progressWatermark: this.#progressTracker.watermark,
      brokerConnected: this.#connection?.connected ?? false,
    };
  }

  // ---- the spool pass ----------------------------------------------------------------------

  /** Runs tasks (passes, sweeps, replays) one at a time, so numbers follow spool order. */
  #runExclusive(task: () => Promise<void>): void {
    this.#exclusive = this.#exclusive.then(async () => {
      if (this.#stopping) return;
      try {
        await task();
      } catch (err) {
        this.#log.error({ err: describeError(err) }, 'agent task failed; retrying at the next wake-up');
      }
    });
  }

  /** At most one sweep waits in line (a pass blocked on a full window must not pile them up). */
  #requestSweep(): void {
    if (this.#sweepQueued || this.#stopping) return;
    this.#sweepQueued = true;
    this.#runExclusive(async () => {
      this.#sweepQueued = false;
      await this.#sweep();
    });
  }

  #requestPass(): void {
    if (this.#stopping) return;
    if (this.#passQueued) {
      this.#passAgain = true;
      return;
    }
    this.#passQueued = true;
    this.#runExclusive(async () => {
      this.#passQueued = false;
      this.#passAgain = false;
      const more = await this.#pass();
      if (more) this.#passAgain = true;
      if (this.#passAgain && !this.#stopping) setImmediate(() => this.#requestPass());
    });
  }

  /** One look at the spool: loss markers, then new records of every segment in name order. */
  async #pass(): Promise<boolean> {
    const dir = this.settings.spoolDir;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      this.#log.error({ err: describeError(err), dir }, 'cannot list the spool directory');
      return false;
    }
    for (const n of names) {
      const loss = parseLossMarkerName(n);
      if (loss) await this.#handleLossMarker(join(dir, n));
    }
    const listed = names.map(parseSegmentName).filter((x): x is SegmentName => x !== undefined).sort((a, b) => (a.name < b.name ? -1 : 1));
    const present = new Set(listed.map((l) => l.name));
    for (const [name, t] of this.#segments) {
      if (!present.has(name) && !this.#checkpoints.busy(name)) {
        await t.reader.close();
        this.#segments.delete(name);
        this.#checkpoints.forget(name);
        this.#stateChanged = true;
      }
    }
    let more = false;
    let bytes = 0;
    for (const seg of listed) {
      if (this.#stopping) return false;
      const t = await this.#track(seg);
      if (!t) continue;
      bytes += t.reader.size;
      let read = 0;
      const final = this.#isOver(t);
      while (!this.#stopping) {
        const before = t.reader.position;
        const chunk = await t.reader.next(final);
        if (!chunk) break;
        if (!(await this.#processChunk(t, chunk))) return false;
        read += t.reader.position - before;
        if (read >= PASS_BUDGET_BYTES) { more = true; break; }
      }
      if (t.reader.position !== (this.#savedSegments[seg.name]?.read ?? -1)) this.#stateChanged = true;
    }
    this.#spoolBytes = bytes;
    return more;
  }

  async #track(seg: SegmentName): Promise<TrackedSegment | undefined> {
    let t = this.#segments.get(seg.name);
    if (!t) {
      const saved = this.#savedSegments[seg.name];
      const from = saved?.checkpoint ?? 0;
      t = { name: seg, reader: new SegmentReader(join(this.settings.spoolDir, seg.name), from), lastGoodNs: undefined };
      if (!(await t.reader.refresh())) return undefined;
      if (saved && (saved.ino !== t.reader.ino.toString() || t.reader.size < from)) {
        // Deleted and created again under the same name (after a crash between delete and checkpoint).
        this.#log.warn({ segment: seg.name }, 'segment was replaced since the checkpoint; reading it from the start');
        t.reader.rewind(0);
        this.#checkpoints.track(seg.name, 0);
      } else {
        this.#checkpoints.track(seg.name, from);
      }
      this.#segments.set(seg.name, t);
      return t;
    }
    return (await t.reader.refresh()) ? t : undefined;
  }

  /** Its bucket is over (plus the grace period) and nobody has appended for the grace period. */
  #isOver(t: TrackedSegment): boolean {
    const a = this.settings.agent;
    const nowMs = nowMsOf(this.#clock);
    const endMs = (t.name.bucketS + a.bucket_s + a.segment_grace_s) * 1000;
    return nowMs >= endMs && nowMs - t.reader.mtimeMs >= a.segment_grace_s * 1000;
  }

  /** Plans, resolves and announces each record in order; false when stopping cut it short. */
  async #processChunk(t: TrackedSegment, chunk: SegmentChunk): Promise<boolean> {
    if (chunk.skipped > 0) {
      this.#counters.recordsSkipped += chunk.skipped;
      this.#counters.skippedBytes += chunk.skippedBytes;
      this.#log.warn({ segment: t.name.name, skipped: chunk.skipped, bytes: chunk.skippedBytes }, 'corrupt spool records skipped; scheduling a catch-up scan');
    }
    // The path of a corrupt record cannot be trusted: scan the root since the last good record before it.
    const corruptSince = (): void => this.#scheduleScan(t.lastGoodNs ?? BigInt(t.name.bucketS) * 1_000_000_000n, undefined, 'corrupt');
    let expected = chunk.start;
    for (const { record, end } of chunk.records) {
      if (end - record.length > expected) corruptSince();
      expected = end;
      this.#counters.recordsRead += 1;
      t.lastGoodNs = record.timeNs;
      const unit = this.#checkpoints.begin(t.name.name, end);
      const plan = this.#planner.plan({ host: t.name.host, record }, nowMsOf(this.#clock));
      if (plan.unknownOp) this.#counters.unknownOps += 1;
      const fromDirtySet = record.op === 'EXIT';
      if (fromDirtySet) for (const i of plan.intents) this.#limbo.set(i.path.toString('latin1'), { path: i.path, eventNs: i.eventNs });
      for (const intent of plan.intents) {
        const ok = await this.#announce(intent, unit);
        if (fromDirtySet && ok) this.#limbo.delete(intent.path.toString('latin1'));
        if (!ok) return false;
      }
      unit.release();
    }
    if (chunk.end > expected) corruptSince();
    // Moves the checkpoint over trailing corrupt bytes too.
    this.#checkpoints.begin(t.name.name, chunk.end).release();
    return true;
  }

  async #announce(intent: ChangeIntent, unit?: ReturnType<SegmentCheckpoints['begin']>): Promise<boolean> {
    let change: ResolvedChange;
    try {
      change = await this.#resolver.resolve(intent);
    } catch (err) {
      this.#log.warn({ err: describeError(err), path: percentEncodeBytes(intent.path) }, 'cannot look at a changed path; announcing it bare');
      change = { facts: { kind: 'content', path: intent.path }, eventNs: intent.eventNs };
    }
    if (change.scanDir) this.#scheduleScan(0n, change.scanDir, 'moved-in');
    return this.#announcer!.announce(change, unit);
  }

  // ---- dirty set sweep ---------------------------------------------------------------------

  async #sweep(): Promise<void> {
    const a = this.settings.agent;
    const done = await this.#dirty.sweep({
      nowMs: nowMsOf(this.#clock),
      nowNs: this.#clock.nowNs(),
      quietMs: a.dirty_quiet_s * 1000,
      stat: lstatPath,
      isAlive: this.#liveness,
    });
    if (done.length) this.#stateChanged = true;
    const todo = done.filter((c) => this.#filter.accepts(c.path));
    for (const c of todo) this.#limbo.set(c.path.toString('latin1'), { path: c.path, eventNs: c.eventNs });
    for (const c of todo) {
      const intent: ChangeIntent = { kind: 'typed', path: c.path, eventNs: c.eventNs, ...(c.stat && { stat: c.stat }) };
      if (!(await this.#announce(intent))) return;
      this.#limbo.delete(c.path.toString('latin1'));
      // A checkpoint taken while it was in limbo still lists it: the next one must not.
      this.#stateChanged = true;
    }
  }

  // ---- loss markers and scans ---------------------------------------------------------------

  async #handleLossMarker(file: string): Promise<void> {
    let sinceNs: bigint | undefined;
    try {
      const text = (await readFile(file, 'latin1')).trim();
      if (/^\d+$/.test(text)) sinceNs = BigInt(text);
      else {
        const st = await stat(file, { bigint: true });
        // Being written right now, or garbage: wait a moment, then fall back on its mtime.
        if (this.#clock.nowNs() - st.mtimeNs < 2_000_000_000n) return;
        sinceNs = st.mtimeNs - BigInt(this.settings.agent.bucket_s) * 1_000_000_000n;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ err: describeError(err), file }, 'cannot read a loss marker');
      return;
    }
    this.#counters.lossMarkers += 1;
    this.#log.warn({ file, sinceNs: sinceNs.toString() }, 'the shim lost events (spool full or unwritable); scheduling a catch-up scan');
    this.#scheduleScan(sinceNs, undefined, 'loss');
    // The request must be on disk before the marker goes: otherwise a crash would forget both.
    await this.#saveState(true);
    await unlink(file).catch(() => undefined);
  }

  #scheduleScan(sinceNs: bigint, dir: Buffer | undefined, reason: ScanReason): void {
    this.#counters.scansScheduled += 1;
    this.#scans.push({ sinceNs: sinceNs.toString(), ...(dir && { dir: percentEncodeBytes(dir) }), reason, requestedNs: this.#clock.nowNs().toString() });
    if (this.#scans.length > MAX_SCANS_KEPT) this.#scans.splice(0, this.#scans.length - MAX_SCANS_KEPT);
    this.#stateChanged = true;
    try {
      this.#o.scheduleScan?.(sinceNs, dir, reason);
    } catch (err) {
      this.#log.warn({ err: describeError(err) }, 'scheduleScan hook failed');
    }
    this.emit('scan', { sinceNs, dir, reason });
  }

  // ---- checkpoint --------------------------------------------------------------------------

  async #loadState(): Promise<void> {
    const st = await readAgentState(this.statePaths.agentState);
    if (!st) return;
    this.#ledger.load(st.seq);
    this.#savedSegments = st.segments;
    this.#dirty.load(st.dirty, nowMsOf(this.#clock));
    this.#scans = st.scans ?? [];
    Object.assign(this.#counters, st.counters ?? {});
  }

  #snapshot(): AgentStateJson {
    const segments: Record<string, SegmentStateJson> = {};
    for (const [name, t] of this.#segments) {
      segments[name] = {
        checkpoint: this.#checkpoints.checkpoint(name) ?? 0,
        read: t.reader.position,
        size: t.reader.size,
        ino: t.reader.ino.toString(),
      };
    }
    return {
      version: 1,
      host: this.settings.host,
      spoolDir: this.settings.spoolDir,
      updatedNs: this.#clock.nowNs().toString(),
      seq: this.#ledger.toJSON(),
      segments,
      dirty: [
        ...this.#dirty.toJSON(),
        ...[...this.#limbo.values()].map((l) => ({ path: percentEncodeBytes(l.path), holders: [], lastEventNs: l.eventNs.toString(), changed: true })),
      ],
      scans: this.#scans,
      counters: { ...this.#counters },
    };
  }

  /** Writes agent-state.json if anything moved, then deletes what that made safe to delete. */
  async #saveState(force = false): Promise<void> {
    while (this.#saving) await this.#saving;
    const ledger = this.#ledger.toJSON();
    if (!force && !this.#stateChanged && ledger.confirmedBelow === this.#lastSaved?.seq.confirmedBelow && ledger.assigned === this.#lastSaved.seq.assigned) return;
    this.#saving = (async () => {
      this.#stateChanged = false;
      const snap = this.#snapshot();
      // Everything the snapshot no longer needs (a dirty entry announced) must be in the journal first.
      await this.#journal?.flush();
      await writeAgentState(this.statePaths.agentState, snap);
      this.#lastSaved = snap;
      this.#savedSegments = snap.segments;
      this.#progress?.schedule();
      await this.#journal?.collect(Math.min(snap.seq.confirmedBelow, snap.seq.assigned));
      // Deleting runs between passes, never under a reader in the middle of a segment.
      if (!this.#stopping && !this.#deleteQueued) {
        this.#deleteQueued = true;
        this.#runExclusive(async () => {
          this.#deleteQueued = false;
          await this.#deleteFinishedSegments(this.#lastSaved ?? snap);
        });
      }
    })();
    try {
      await this.#saving;
    } catch (err) {
      this.#stateChanged = true;
      this.#log.error({ err: describeError(err), file: this.statePaths.agentState }, 'cannot write the checkpoint; retrying');
    } finally {
      this.#saving = undefined;
    }
  }

  #lastSaved: AgentStateJson | undefined;

  /** A segment goes once its bucket is over (plus grace) and every record in it is confirmed and checkpointed. */
  async #deleteFinishedSegments(snap: AgentStateJson): Promise<void> {
    if (this.#stopping) return;
    for (const [name, t] of [...this.#segments]) {
      const saved = snap.segments[name];
      if (!saved || this.#checkpoints.busy(name) || !this.#isOver(t)) continue;
      if (!(await t.reader.refresh())) continue;
      if (saved.checkpoint !== t.reader.size || t.reader.position !== t.reader.size) continue;
      try {
        await unlink(t.reader.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.#log.warn({ err: describeError(err), segment: name }, 'cannot delete a finished segment');
          continue;
        }
      }
      await t.reader.close();
      this.#segments.delete(name);
      this.#checkpoints.forget(name);
      this.#counters.segmentsDeleted += 1;
      this.#stateChanged = true;
      this.#log.debug({ segment: name }, 'finished segment deleted');
    }
  }
}

/** Creates the agent; nothing runs until start(). */
export function createAgent(o: AgentOptions): Agent {
  return new SpoolAgent(o);
}
