import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  BrokerConnection,
  decodeAnnouncement,
  declareStage,
  declareTopicExchange,
  describeError,
  HpcmError,
  isHpcmError,
  isUnder,
  Publisher,
  progressNames,
  readCredentials,
  StageConsumer,
  withCredentials,
  type Announcement,
  type Delivery,
  type LoadedConfig,
  type Logger,
} from '@hpcmirror/core';
import { changeOf } from './announcement-change.js';
import { systemClock, type Clock } from './clock.js';
import { fitBody } from './body-limit.js';
import { bodyWithCovers } from './covers-body.js';
import { newCounters, type WinnowCounters, type WinnowMetrics } from './metrics.js';
import { ProgressReporter } from './progress-reporter.js';
import { routeFor, type RouteOptions } from './routing.js';
import { seqsOfBody } from './seq-set.js';
import { timeBox } from './time-box.js';
import { Winnower, type Change, type Decision, type Forward } from './winnower.js';
import { winnowSettings, type WinnowSettings } from './winnow-settings.js';

export interface CreateWinnowOptions {
  config: LoadedConfig;
  logger: Logger;
  /** Consume only this shard (`--instance i`); default: every shard of the stage. */
  instance?: number;
  clock?: Clock;
  /** Time box of start() and of each step of stop(). */
  timeoutMs?: number;
}

export interface WinnowService {
  start(): Promise<void>;
  /** Forwards nothing new, hands held messages back to the broker, waits (time-boxed) for confirms in flight. */
  stop(): Promise<void>;
  metrics(): WinnowMetrics;
  /** The live counters behind metrics(). */
  readonly counters: Readonly<WinnowCounters>;
  readonly settings: WinnowSettings;
}

interface Held {
  readonly delivery: Delivery;
  readonly ann: Announcement;
}

interface Running {
  conn: BrokerConnection;
  publisher: Publisher;
  reporter: ProgressReporter;
  consumer: StageConsumer;
  winnower: Winnower<Held>;
}

export function createWinnow(opts: CreateWinnowOptions): WinnowService {
  return new WinnowServiceImpl(opts);
}

class WinnowServiceImpl implements WinnowService {
  readonly settings: WinnowSettings;
  readonly counters: WinnowCounters = newCounters();
  readonly #config: LoadedConfig;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #instance: number | undefined;
  readonly #route: RouteOptions;
  /** Confirm outcome of each forward, for duplicates that must wait for it. */
  readonly #outcomes = new WeakMap<Forward<Held>, Promise<boolean>>();
  /** Confirms and reports this service still waits for (stop() waits for them, time-boxed). */
  #pending = 0;
  #idle: (() => void)[] = [];
  #run: Running | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #timer: unknown;
  #timerAt: number | undefined;
  #lastMetrics = { cacheSize: 0, cacheEvictions: 0 };

  constructor(opts: CreateWinnowOptions) {
    this.#config = opts.config;
    this.#log = opts.logger;
    this.#clock = opts.clock ?? systemClock;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#instance = opts.instance;
    // Checked here, before anything connects: a wrong --instance is a usage error.
    this.settings = winnowSettings(opts.config, opts.instance);
    const t = this.settings.topology;
    this.#route = { small: t.small, large: t.large, largeThresholdBytes: this.settings.largeThresholdBytes, stagePrefix: `${t.winnow.name}.` };
  }

  start(): Promise<void> {
    if (this.#stopping) return this.#stopping.then(() => this.start());
    this.#starting ??= this.#start().catch((err: unknown) => {
      this.#starting = undefined;
      throw err;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const s = this.settings;
    const cfg = this.#config;
    const url = brokerUrlOf(cfg);
    const conn = new BrokerConnection({
      url,
      logger: this.#log,
      heartbeatS: cfg.broker.heartbeat_s,
      reconnectS: cfg.broker.reconnect_s,
      connectionName: `hpcmirror-winnow-${cfg.flow}-${this.#instance ?? 'all'}`,
      ...(cfg.broker.tls && { tls: cfg.broker.tls }),
    });
    const parts: Partial<Running> = { conn };
    try {
      await conn.waitConnected(this.#timeoutMs);
      const publisher = new Publisher(conn, {
        timeoutMs: s.publishTimeoutMs,
        setup: async (ch) => {
          await declareTopicExchange(ch, s.topology.small);
          await declareTopicExchange(ch, s.topology.large);
          await declareTopicExchange(ch, s.progressExchange);
          if (s.declareSubscriberStages) {
            await declareStage(ch, s.topology.subscriberSmall);
            await declareStage(ch, s.topology.subscriberLarge);
          }
        },
      });
      parts.publisher = publisher;
      await timeBox(publisher.waitReady(), this.#timeoutMs, 'winnow publisher setup');
      const reporter = new ProgressReporter({
        clock: this.#clock,
        logger: this.#log,
        publish: (host, body) => {
          const names = progressNames(cfg, host);
          return publisher.publish(names.exchange, names.routingKey, body);
        },
      });
      const winnower = new Winnower<Held>({
        cacheMax: s.cacheMax,
        cacheTtlMs: s.cacheTtlMs,
        windowMs: s.windowMs,
        maxHeld: s.maxHeld,
        clock: this.#clock,
      });
      const consumer = new StageConsumer(conn, {
        stage: s.stage,
        ...(s.shards && { shards: s.shards }),
        prefetch: s.prefetch,
        maxAttempts: s.maxAttempts,
        logger: this.#log,
        onMessage: (d) => this.#onMessage(d),
      });
      this.#run = { conn, publisher, reporter, consumer, winnower };
      await timeBox(consumer.start(), this.#timeoutMs, 'winnow consumer start');
      if (!s.declareSubscriberStages) {
        this.#log.warn({ small: s.topology.small, large: s.topology.large }, 'no subscriber: section in the config; forwards reach only queues the subscribers have already declared');
      }
      this.#log.info({ stage: s.stage.name, shards: s.shards ?? 'all', windowMs: s.windowMs, cacheMax: s.cacheMax }, 'winnow started');
    } catch (err) {
      this.#run = undefined;
      await this.#close(parts);
      throw err;
    }
  }

  stop(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    const starting = this.#starting;
    if (!starting) return Promise.resolve();
    this.#stopping = starting.catch(() => undefined).then(() => this.#stop()).finally(() => {
      this.#starting = undefined;
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  /**
   * Held messages are requeued, not flushed: they are unacked, so handing them back needs no
   * broker round trip that could fail or outlast the time box, and a restarted winnow (or the hot
   * standby on the same shard) receives them first and forwards the newest. Forwards already
   * published are waited for (time-boxed) and acked; anything left unacked returns to the queue
   * when the channel closes.
   */
  async #stop(): Promise<void> {
    const run = this.#run;
    if (!run) return;
    this.#clearTimer();
    this.#run = undefined;
    this.#remember(run.winnower);
    const held = run.winnower.drainHeld();
    for (const h of held) h.delivery.requeue();
    this.counters.requeued += held.length;
    try {
      await timeBox(Promise.all([run.reporter.flush(), this.#drained()]), this.#timeoutMs, 'winnow confirms in flight');
      await run.reporter.flush();
    } catch (err) {
      this.#log.warn({ err: describeError(err) }, 'winnow stop: some confirms did not arrive; their inputs return to the queue');
    }
    await this.#close(run);
    this.#log.info({ requeued: held.length }, 'winnow stopped');
  }

  async #close(parts: Partial<Running>): Promise<void> {
    const steps: [string, (() => Promise<void>) | undefined][] = [
      ['consumer', parts.consumer && (() => parts.consumer!.stop())],
      ['publisher', parts.publisher && (() => parts.publisher!.close())],
      ['connection', parts.conn && (() => parts.conn!.close())],
    ];
    for (const [name, step] of steps) {
      if (!step) continue;
      try {
        await timeBox(step(), this.#timeoutMs, `winnow ${name} close`);
      } catch (err) {
        this.#log.warn({ err: describeError(err) }, `winnow stop: ${name} did not close cleanly`);
      }
    }
  }

  metrics(): WinnowMetrics {
    const w = this.#run?.winnower;
    if (w) this.#remember(w);
    return {
      ...this.counters,
      cacheSize: this.#lastMetrics.cacheSize,
      cacheMax: this.settings.cacheMax,
      cacheEvictions: this.#lastMetrics.cacheEvictions,
      held: w?.held ?? 0,
      inflight: w?.inflight ?? 0,
    };
  }

  #remember(w: Winnower<Held>): void {
    this.#lastMetrics = { cacheSize: w.cache.size, cacheEvictions: w.cache.evictions };
  }

  async #onMessage(d: Delivery): Promise<void> {
    const run = this.#run;
    // Stopping: forward nothing new; the message returns to the queue when the channel closes.
    if (!run) return;
    this.counters.received++;
    let ann: Announcement;
    try {
      ann = decodeAnnouncement(d.content, { maxBytes: this.settings.maxBodyBytes, sourceRoot: this.settings.sourceRoot });
      if (!isUnder(ann.path, this.settings.sourceRoot)) {
        throw new HpcmError('HPM_PATH_OUTSIDE_ROOT', `relPath: outside source_root ${this.#config.source_root}`, { field: 'relPath' });
      }
    } catch (err) {
      if (!isHpcmError(err)) throw err;
      await this.#park(run, d, err);
      return;
    }
    if (typeof ann.body.hpcm_origin === 'string' && this.settings.echoOrigins.has(ann.body.hpcm_origin)) {
      // The mirror's own write (this flow's or the reverse flow's): announcing it would echo it back.
      this.counters.echoes++;
      d.ack();
      return;
    }
    this.#apply(run, run.winnower.receive(changeOf(ann, { delivery: d, ann })));
    this.#arm(run);
  }

  async #park(run: Running, d: Delivery, err: HpcmError): Promise<void> {
    const reason = describeError(err);
    this.counters.parked++;
    this.#log.warn({ code: err.code, queue: d.queue, reason }, 'message parked');
    const { host, seqs, path } = looseIdentity(d.content);
    if (host !== undefined && seqs.length > 0) {
      // Reported before the park: if we die in between, the redelivery is parked (and reported) again.
      await run.reporter.report(host, 'parked', seqs, { reason, ...(path !== undefined && { path }) }).catch(() => undefined);
    }
    await d.park(reason);
  }

  #apply(run: Running, decisions: Decision<Held>[]): void {
    for (const dec of decisions) {
      if (dec.type === 'forward') this.#forward(run, dec.forward);
      else this.#suppress(run, dec.change, dec.after);
    }
  }

  #forward(run: Running, f: Forward<Held>): void {
    const { delivery, ann } = f.change.payload;
    const route = routeFor(ann, delivery.routingKey, delivery.headers, this.#route);
    const body = fitBody(bodyWithCovers(delivery.content, ann.body, f.seqs), this.settings.maxBodyBytes);
    this.#begin();
    const outcome = run.publisher
      .publish(route.exchange, route.routingKey, body, {
        headers: route.headers,
        ...(delivery.messageId !== undefined && { messageId: delivery.messageId }),
      })
      .then(
        () => {
          run.winnower.confirmed(f);
          // Superseded messages are acked only now that their successor is confirmed downstream.
          for (const h of f.payloads) h.delivery.ack();
          this.counters.forwarded++;
          if (route.exchange === this.#route.large) this.counters.forwardedLarge++;
          else this.counters.forwardedSmall++;
          this.counters.coalesced += f.payloads.length - 1;
          this.#end();
          return true;
        },
        (err: unknown) => {
          run.winnower.failed(f);
          this.counters.forwardFailures++;
          const reason = describeError(err);
          this.#log.warn({ err: reason, exchange: route.exchange, messages: f.payloads.length }, 'forward not confirmed; inputs go to the retry queue');
          for (const h of f.payloads) retryOrRequeue(h.delivery, reason);
          this.#end();
          return false;
        },
      );
    this.#outcomes.set(f, outcome);
  }

  #suppress(run: Running, c: Change<Held>, after: Forward<Held> | undefined): void {
    this.counters.suppressed++;
    const d = c.payload.delivery;
    const needsReport = c.host !== undefined && c.seqs.length > 0;
    const waitFor = after && this.#outcomes.get(after);
    if (!waitFor && !needsReport) {
      d.ack();
      return;
    }
    this.#begin();
    void (waitFor ?? Promise.resolve(true)).then(async (forwarded) => {
      // The forward it duplicates failed and goes round again: so does the duplicate.
      if (!forwarded) return retryOrRequeue(d, 'the forward it duplicates was not confirmed');
      if (needsReport) await run.reporter.report(c.host!, 'suppressed', c.seqs);
      d.ack();
    }).catch((err: unknown) => retryOrRequeue(d, describeError(err))).finally(() => this.#end());
  }

  #begin(): void {
    this.#pending++;
  }

  #end(): void {
    if (--this.#pending === 0) for (const wake of this.#idle.splice(0)) wake();
  }

  #drained(): Promise<void> {
    return this.#pending === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }

  /** One timer, set for the earliest window to close. */
  #arm(run: Running): void {
    const at = run.winnower.nextDeadline();
    if (at === undefined) return;
    if (this.#timerAt !== undefined && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      if (this.#run !== run) return;
      this.#apply(run, run.winnower.due());
      this.#arm(run);
    }, Math.max(0, Math.ceil(at - this.#clock.now())));
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
  }
}

/** The broker URL with its password: as given when it has one (the CLI fills it in), else from the credentials file. */
function brokerUrlOf(cfg: LoadedConfig): string {
  const url = cfg.broker.url;
  if (!cfg.credentials || new URL(url).password !== '') return url;
  const file = cfg.credentials === '~' || cfg.credentials.startsWith('~/') ? join(homedir(), cfg.credentials.slice(1)) : cfg.credentials;
  return withCredentials(url, readCredentials(file));
}

function retryOrRequeue(d: Delivery, reason: string): void {
  d.retry(reason).catch(() => d.requeue());
}

/** host, seqs and relPath of a body that failed validation, when they can be read at all. */
function looseIdentity(raw: Buffer): { host?: string; seqs: readonly number[]; path?: string } {
  try {
    const body = JSON.parse(raw.toString('utf8')) as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return { seqs: [] };
    const b = body as Record<string, unknown>;
    return {
      ...(typeof b.hpcm_host === 'string' && { host: b.hpcm_host }),
      seqs: seqsOfBody(b),
      ...(typeof b.relPath === 'string' && { path: b.relPath }),
    };
  } catch {
    return { seqs: [] };
  }
}
