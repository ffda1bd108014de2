import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BrokerConnection, declareStage, declareTopicExchange, HpcmError, Publisher, silentLogger, StageConsumer,
  type Delivery, type Logger, type StageSpec,
} from '@hpcmirror/core';
import type { Channel } from 'amqplib';
import { AntiEntropy } from './anti-entropy.js';
import { systemClock, type Clock } from './clock.js';
import { DeleteGuard } from './delete-guard.js';
import { DestTree } from './dest/dest-tree.js';
import { DirSync } from './dest/dir-sync.js';
import { MTIME_PRECISION_NS } from './dest/times.js';
import { HardLinkIndex } from './hard-link-index.js';
import { HardLinkJournal } from './hard-link-journal.js';
import { LatencyHistogram } from './latency-histogram.js';
import { LatencyLogWriter } from './latency-log.js';
import { MessageHandler } from './message-handler.js';
import { newCounters, type SubscriberMetrics } from './metrics.js';
import { isUnder } from '@hpcmirror/core';
import { pathKey } from './path-bytes.js';
import { PathLocks } from './path-locks.js';
import { PathMap } from './path-map.js';
import { PostAfterCopy } from './post-after-copy.js';
import { ProgressReporter } from './progress-reporter.js';
import { SourceHealth } from './source-health.js';
import { reasonOf } from './errors.js';
import { isTransportError } from './transports/errors.js';
import { Reconciler } from './reconciler.js';
import { resolveSettings, type SubscriberInputConfig, type SubscriberSettings } from './settings.js';
import { TempJournal } from './temp-journal.js';
import { TempNames } from './temp-names.js';
import { createTransportFor } from './transport-factory.js';
import type { Transport } from './transports/transport.js';
import { Trash } from './trash.js';
import { WorkerPool } from './worker-pool.js';

export interface SubscriberOptions {
  config: SubscriberInputConfig;
  logger?: Logger;
  clock?: Clock;
  /** Use this transport instead of the one the config names (it is started, but stopped only if we made it). */
  transport?: Transport;
  /** How long stop() lets copies in flight finish before aborting them (default 10 s). */
  stopGraceMs?: number;
  /** Time box of start() (default 60 s). */
  startTimeoutMs?: number;
}

export interface Subscriber {
  /** Connects, sweeps stale temp files, and starts consuming both pools. Idempotent. */
  start(): Promise<void>;
  /** Stops consuming, lets copies in flight finish (time-boxed), flushes reports. Idempotent. */
  stop(): Promise<void>;
  metrics(): SubscriberMetrics;
}

export function createSubscriber(opts: SubscriberOptions): Subscriber {
  return new SubscriberService(opts);
}

const TRASH_PURGE_MS = 10 * 60 * 1000;
/** Backoff between connection attempts to a source host that was away at start. */
const SOURCE_RETRY_MIN_MS = 1000;
const SOURCE_RETRY_MAX_MS = 60_000;

/** The stages' queues, so that what is announced while we wait for the source is kept, not dropped unroutable. */
async function declareStages(conn: BrokerConnection, stages: readonly StageSpec[]): Promise<void> {
  const ch = conn.manager.createChannel({ setup: async (c: Channel) => { for (const st of stages) await declareStage(c, st); } });
  try {
    await ch.waitForConnect();
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/** The source host did not answer (down, sshd stopped, network): worth waiting for, unlike a wrong key or config. */
function isSourceUnreachable(err: unknown): boolean {
  return isTransportError(err) && (err.code === 'HPM_TRANSPORT_CONNECTION' || err.code === 'HPM_TRANSPORT_TIMEOUT');
}

/** The running parts, made by start() and dropped by stop(). */
interface Running {
  settings: SubscriberSettings;
  abort: AbortController;
  transport: Transport;
  ownsTransport: boolean;
  conn: BrokerConnection;
  progressPublisher: Publisher;
  postPublisher: Publisher | undefined;
  consumers: StageConsumer[];
  journal: TempJournal;
  latencyLog: LatencyLogWriter;
  antiEntropy: AntiEntropy;
  trashTimer: NodeJS.Timeout | undefined;
  progress: ProgressReporter;
  guard: DeleteGuard;
  links: HardLinkIndex;
  linkJournal: HardLinkJournal;
}

class SubscriberService implements Subscriber {
  readonly #opts: SubscriberOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #counters = newCounters();
  readonly #histogram = new LatencyHistogram();
  readonly #locks = new PathLocks();
  readonly #pools = { small: new WorkerPool('small', 1), large: new WorkerPool('large', 1) };
  readonly #inFlight = new Set<Promise<void>>();
  #run: Running | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #isStopping = false;
  readonly #source: SourceHealth;
  /** The background reconnect of a source that was away at start, and its cancel switch. */
  #reconnecting: Promise<void> | undefined;
  #reconnectAbort: AbortController | undefined;

  constructor(opts: SubscriberOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger();
    this.#clock = opts.clock ?? systemClock;
    this.#source = new SourceHealth(this.#clock);
  }

  async start(): Promise<void> {
    if (this.#run) return;
    if (this.#stopping) await this.#stopping;
    this.#starting ??= this.#timeBoxed(this.#start(), this.#opts.startTimeoutMs ?? 60_000, 'start').finally(() => { this.#starting = undefined; });
    return this.#starting;
  }

  async stop(): Promise<void> {
    if (this.#starting) await this.#starting.catch(() => undefined);
    if (!this.#run) return;
    this.#stopping ??= this.#stop().finally(() => { this.#stopping = undefined; });
    return this.#stopping;
  }

  metrics(): SubscriberMetrics {
    const r = this.#run;
    const guard = r?.guard.status() ?? { limitPerMin: 0, lastMinute: 0, paused: false, pausedSince: null, refused: 0, alert: null };
    const pool = (p: WorkerPool) => ({ workers: p.workers, busy: p.busy, queued: p.queued });
    return {
      running: r !== undefined && !this.#isStopping,
      counters: { ...this.#counters },
      pools: { small: pool(this.#pools.small), large: pool(this.#pools.large) },
      pathsHeld: this.#locks.held,
      deleteGuard: guard,
      alerts: guard.alert ? [guard.alert] : [],
      latency: this.#histogram.snapshot(),
      antiEntropy: r?.antiEntropy.stats() ?? { pending: 0, checked: 0, repaired: 0, tempsRemoved: 0, errors: 0 },
      hardLinkGroups: r?.links.size ?? 0,
      progressReportsPublished: r?.progress.published ?? 0,
      mtimePrecisionNs: Number(MTIME_PRECISION_NS),
      source: this.#source.snapshot(),
      degraded: this.#source.degraded,
    };
  }

  async #start(): Promise<void> {
    const settings = resolveSettings(this.#opts.config);
    const sub = settings.sub;
    const log = this.#log;
    this.#isStopping = false;
    this.#pools.small = new WorkerPool('small', sub.pools.small.workers);
    this.#pools.large = new WorkerPool('large', sub.pools.large.workers);
    mkdirSync(settings.stateDir, { recursive: true, mode: 0o700 });
    mkdirSync(dirname(settings.latencyLog), { recursive: true });
    // Per host: a state dir on a shared home serves every io node running this config.
    const host = hostname();
    const temps = new TempNames(instanceTag(join(settings.stateDir, `instance-tag.${host}`)));

    const tree = new DestTree(settings.destinationRoot);
    await tree.start();
    let trash: Trash | undefined;
    if (settings.trashDir) {
      trash = new Trash(settings.trashDir, sub.trash_retention_s, this.#clock, log);
      await trash.start(settings.destinationRoot);
    }
    const journal = new TempJournal(join(settings.stateDir, `temp-dirs.${host}.log`), temps, log);
    await journal.start(tree);

    const transport = this.#opts.transport ?? createTransportFor(settings, log);
    const ownsTransport = this.#opts.transport === undefined;
    const abort = new AbortController();
    const map = new PathMap(settings.sourceRoot, settings.destinationRoot);
    this.#locks.setRoot(pathKey(map.sourceRoot));
    const guard = new DeleteGuard(sub.delete_guard_per_min, this.#clock);
    const links = new HardLinkIndex();
    const linkJournal = new HardLinkJournal(join(settings.stateDir, `hardlinks.${host}.log`), (err) => {
      log.warn({ err: err.message }, 'hard-link journal not writable: hard-link groups are kept in memory only');
    });
    links.attach(linkJournal);
    const latencyLog = new LatencyLogWriter(settings.latencyLog);
    latencyLog.open();

    let antiEntropy: AntiEntropy | undefined;
    const reconciler = new Reconciler({
      transport, tree, map, temps, journal, guard, trash, links, locks: this.#locks, dirSync: new DirSync(),
      attrs: { chown: settings.chown },
      fsync: sub.fsync,
      bwlimitBytesPerSec: sub.bwlimit_bytes_per_s,
      clock: this.#clock,
      logger: log,
      signal: abort.signal,
      touched: (dir, subtree) => antiEntropy?.touch(dir, subtree),
      onRemoved: (n) => { this.#counters.removes += n; },
    });
    antiEntropy = new AntiEntropy({
      transport, tree, map, journal, locks: this.#locks, reconciler,
      quietMs: sub.anti_entropy_quiet_s * 1000,
      enabled: sub.anti_entropy,
      filter: settings.filter,
      links,
      owners: settings.chown,
      clock: this.#clock,
      logger: log,
      ...(settings.trashDir && isUnder(settings.trashDir, settings.destinationRoot) && { excludeDest: settings.trashDir }),
    });

    let conn: BrokerConnection | undefined;
    const publishers: Publisher[] = [];
    const consumers: StageConsumer[] = [];
    try {
      const sourceUp = await this.#startTransport(transport);
      if (sourceUp) await reconciler.checkSourceRoot().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'source root not available yet'));
      conn = new BrokerConnection({
        url: settings.brokerUrl,
        logger: log,
        heartbeatS: this.#opts.config.broker.heartbeat_s,
        reconnectS: this.#opts.config.broker.reconnect_s,
        connectionName: `hpcmirror subscriber ${settings.flow}`,
        ...(this.#opts.config.broker.tls && { tls: this.#opts.config.broker.tls }),
      });
      await conn.waitConnected(30_000);
      const publishTimeout = this.#opts.config.broker.publish_timeout_ms;
      const progressPublisher = new Publisher(conn, {
        timeoutMs: publishTimeout,
        setup: async (ch) => { await declareTopicExchange(ch, settings.progressExchange); },
      });
      publishers.push(progressPublisher);
      const progress = new ProgressReporter(progressPublisher, settings.progressExchange, log);
      let postPublisher: Publisher | undefined;
      let post: PostAfterCopy | undefined;
      if (sub.post_after_copy) {
        const exchange = sub.post_exchange!;
        postPublisher = new Publisher(conn, { timeoutMs: publishTimeout, setup: async (ch) => { await declareTopicExchange(ch, exchange); } });
        publishers.push(postPublisher);
        post = new PostAfterCopy(postPublisher, exchange, settings.flow, () => this.#clock.nowNs());
      }
      const handler = new MessageHandler({
        settings, map, reconciler, links, locks: this.#locks, progress, latencyLog, histogram: this.#histogram,
        counters: this.#counters, post, clock: this.#clock, logger: log,
        isStopping: () => this.#isStopping,
        syncTree: (dir) => antiEntropy.syncTree(dir),
        source: this.#source,
      });
      for (const [size, stage] of [['small', settings.topology.subscriberSmall], ['large', settings.topology.subscriberLarge]] as const) {
        const pool = this.#pools[size];
        const consumer = new StageConsumer(conn, {
          stage,
          prefetch: settings.prefetchPerShard[size],
          maxAttempts: sub.max_attempts,
          logger: log,
          onMessage: (d: Delivery) => this.#track(handler.handle(d, pool)),
        });
        consumers.push(consumer);
        // Without the source nothing can be applied: the messages wait on the broker meanwhile.
        if (sourceUp) await consumer.start();
      }
      if (sourceUp) antiEntropy.start();
      else await declareStages(conn, [settings.topology.subscriberSmall, settings.topology.subscriberLarge]);
      const trashTimer = trash ? setInterval(() => { void trash.purge().catch((err: Error) => log.warn({ err: err.message }, 'trash purge failed')); }, TRASH_PURGE_MS).unref() : undefined;
      this.#run = {
        settings, abort, transport, ownsTransport, conn, progressPublisher, postPublisher, consumers, journal,
        latencyLog, antiEntropy, trashTimer, progress, guard, links, linkJournal,
      };
      log.info({
        flow: settings.flow, transport: transport.name, pools: { small: sub.pools.small.workers, large: sub.pools.large.workers },
        queues: [settings.topology.subscriberSmall.name, settings.topology.subscriberLarge.name],
        ...(!sourceUp && { degraded: this.#source.degraded }),
      }, sourceUp ? 'subscriber started' : 'subscriber started degraded: waiting for the source host before consuming');
      if (!sourceUp) this.#reconnecting = this.#reconnectSource(this.#run, reconciler);
    } catch (err) {
      for (const c of consumers) await c.stop().catch(() => undefined);
      for (const p of publishers) await p.close().catch(() => undefined);
      await conn?.close().catch(() => undefined);
      if (ownsTransport) await transport.stop().catch(() => undefined);
      latencyLog.close();
      journal.stop();
      linkJournal.close();
      throw err;
    }
  }

  /** Starts the transport; false (degraded, logged) when the source host does not answer. */
  async #startTransport(transport: Transport): Promise<boolean> {
    try {
      await transport.start();
      this.#source.up();
      return true;
    } catch (err) {
      if (!isSourceUnreachable(err)) throw err;
      this.#source.down(reasonOf(err));
      this.#log.warn({ err: reasonOf(err), attempt: 1, retryInS: SOURCE_RETRY_MIN_MS / 1000 }, 'source host unreachable; retrying with backoff (status: degraded)');
      return false;
    }
  }

  /**
   * A source away at start: retried with backoff (one warning per attempt) until it answers, then
   * the consumers and anti-entropy start as they would have. stop() cancels it.
   */
  async #reconnectSource(r: Running, reconciler: Reconciler): Promise<void> {
    const abort = (this.#reconnectAbort = new AbortController());
    let delay = SOURCE_RETRY_MIN_MS;
    for (let attempt = 2; ; attempt++) {
      try {
        await sleep(delay, undefined, { signal: abort.signal });
      } catch {
        return;
      }
      try {
        await r.transport.start();
      } catch (err) {
        if (abort.signal.aborted) return;
        delay = Math.min(delay * 2, SOURCE_RETRY_MAX_MS);
        this.#source.down(reasonOf(err));
        this.#log.warn({ err: reasonOf(err), attempt, retryInS: delay / 1000 }, 'source host still unreachable; retrying with backoff (status: degraded)');
        continue;
      }
      if (abort.signal.aborted) return;
      this.#source.up();
      this.#log.info({ attempt }, 'source host reachable; consuming');
      await reconciler.checkSourceRoot().catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, 'source root not available yet'));
      try {
        for (const c of r.consumers) {
          if (abort.signal.aborted) return;
          await c.start();
        }
        r.antiEntropy.start();
      } catch (err) {
        this.#log.error({ err: reasonOf(err) }, 'cannot start consuming after the source came back');
      }
      return;
    }
  }

  async #stop(): Promise<void> {
    const r = this.#run!;
    this.#isStopping = true;
    const log = this.#log;
    this.#reconnectAbort?.abort();
    await this.#reconnecting?.catch(() => undefined);
    this.#reconnecting = undefined;
    this.#reconnectAbort = undefined;
    // New deliveries are requeued at once; copies in flight get a grace period, then are aborted.
    const settled = (ms: number) => this.#timeBoxed(Promise.allSettled([...this.#inFlight]).then(() => true), ms, 'stop').catch(() => false);
    if (!(await settled(this.#opts.stopGraceMs ?? 10_000))) {
      r.abort.abort();
      if (!(await settled(5_000))) log.warn({ inFlight: this.#inFlight.size }, 'subscriber stopped with applies still running');
    }
    await r.antiEntropy.stop();
    for (const c of r.consumers) await c.stop().catch((err: Error) => log.warn({ err: err.message }, 'consumer stop failed'));
    await this.#timeBoxed(r.progress.flush(), 10_000, 'stop').catch(() => undefined);
    await r.progressPublisher.close().catch(() => undefined);
    await r.postPublisher?.close().catch(() => undefined);
    await r.conn.close().catch(() => undefined);
    clearInterval(r.trashTimer);
    r.latencyLog.close();
    r.journal.stop();
    r.linkJournal.close();
    if (r.ownsTransport) await r.transport.stop().catch((err: Error) => log.warn({ err: err.message }, 'transport stop failed'));
    this.#run = undefined;
    log.info('subscriber stopped');
  }

  #track(p: Promise<void>): Promise<void> {
    const t = p.catch((err: unknown) => this.#log.error({ err: (err as Error).message }, 'message handler crashed'));
    this.#inFlight.add(t);
    void t.finally(() => this.#inFlight.delete(t));
    return t;
  }

  async #timeBoxed<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HpcmError('HPM_LIFECYCLE_TIMEOUT', `subscriber ${what} did not finish within ${ms} ms`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** This subscriber's temp-name tag, kept in its state dir across restarts. */
function instanceTag(file: string): string {
  try {
    const tag = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{6}$/.test(tag)) return tag;
  } catch {
    // first start
  }
  const tag = TempNames.newTag();
  writeFileSync(file, `${tag}\n`, { mode: 0o600 });
  return tag;
}
