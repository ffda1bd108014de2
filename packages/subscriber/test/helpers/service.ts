import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { inject } from 'vitest';
import {
  buildAnnouncement, configSchema, flowTopology, nowNs, silentLogger,
  type ChangeFacts, type ChangeKind, type Config, type FlowTopology, type Logger,
} from '@hpcmirror/core';
import { createSubscriber, type Subscriber } from '../../src/index.js';
import type { Transport } from '../../src/transports/transport.js';
import { waitFor } from './wait.js';

export interface ProgressMessage {
  routingKey: string;
  host: string;
  state: 'applied' | 'suppressed' | 'parked';
  seqs: [number, number][];
  reason?: string;
  paths?: string[];
}

export interface ParkedMessage {
  reason: string;
  body: string;
}

export interface ServiceOptions {
  /** Overrides of the `subscriber:` section. */
  subscriber?: Record<string, unknown>;
  /** Source baseUrl in messages (default file:/). */
  baseUrl?: string;
  transport?: Transport;
  logger?: Logger;
  /** Start the subscriber right away (default true). */
  start?: boolean;
}

/** A subscriber on two temp trees, fed through a real broker under a flow name of its own. */
export interface ServiceHarness {
  base: string;
  src: string;
  dst: string;
  state: string;
  outside: string;
  flow: string;
  exchange: string;
  topology: FlowTopology;
  config: Config & { user: string; exchange: string };
  sub: Subscriber;
  /** Every progress report received so far. */
  progress: ProgressMessage[];
  /** Announces a change of `rel` (below src) to the small (or large) stage's source exchange. */
  announce(kind: ChangeKind, rel: string | Buffer, facts?: Partial<ChangeFacts>, opts?: { large?: boolean; seq?: number; noWait?: boolean }): Promise<void>;
  /** Waits for the broker's confirms of everything announced with noWait. */
  confirmed(): Promise<void>;
  /** Publishes a hand-made body with an hpcm_path header. */
  publishRaw(body: string | Buffer, pathHeader: string, opts?: { large?: boolean }): Promise<void>;
  /** Drains the parking queues. */
  takeParked(): Promise<ParkedMessage[]>;
  /**
   * Drains the parking queues until `n` messages came out, then once more (so extras show too).
   * The parked counter moves before the progress report and the park itself reach the broker.
   */
  waitParked(n: number, timeoutMs?: number): Promise<ParkedMessage[]>;
  /** Waits until the subscriber has counted `n` messages applied, parked or filtered out (acks and parks may trail). */
  waitSettled(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const HOST = 'hpc-test';

export async function startService(opts: ServiceOptions = {}): Promise<ServiceHarness> {
  const infra = inject('infra');
  const base = mkdtempSync(join(tmpdir(), 'hpcm-sub-svc-'));
  const src = join(base, 'src');
  const dst = join(base, 'dst');
  const state = join(base, 'state');
  const outside = join(base, 'outside');
  for (const d of [src, dst, state, outside]) mkdirSync(d, { recursive: true });
  const flow = `sub${randomBytes(4).toString('hex')}`;
  const user = 'test';
  const exchange = `xs_${user}_${flow}`;
  const parsed = configSchema.parse({
    flow, user, exchange,
    broker: { url: infra.brokerUrl, publish_timeout_ms: 10_000 },
    source_root: src,
    destination_root: dst,
    state_dir: state,
    subscriber: {
      transport: 'local',
      shards: 2,
      pools: { small: { workers: 4 }, large: { workers: 2 } },
      retry_levels_s: [0.2, 0.5],
      max_attempts: 4,
      anti_entropy_quiet_s: 1,
      ...opts.subscriber,
    },
  });
  const config = { ...parsed, user, exchange };
  const topology = flowTopology({
    user, flow, exchange, winnowShards: 1, subscriberShards: config.subscriber!.shards,
    retryLevelsMs: config.subscriber!.retry_levels_s.map((s) => s * 1000),
  });
  const sub = createSubscriber({ config, logger: opts.logger ?? silentLogger(), ...(opts.transport && { transport: opts.transport }), stopGraceMs: 5_000 });

  const conn: ChannelModel = await amqp.connect(infra.brokerUrl);
  const ch = await conn.createConfirmChannel();
  const progressCh: Channel = await conn.createChannel();
  await ch.assertExchange(topology.small, 'topic', { durable: true });
  await ch.assertExchange(topology.large, 'topic', { durable: true });
  const progress: ProgressMessage[] = [];
  await progressCh.assertExchange(`${exchange}.progress`, 'topic', { durable: true });
  const { queue } = await progressCh.assertQueue('', { exclusive: true, autoDelete: true });
  await progressCh.bindQueue(queue, `${exchange}.progress`, '#');
  await progressCh.consume(queue, (m) => {
    if (m) progress.push({ routingKey: m.fields.routingKey, ...(JSON.parse(m.content.toString()) as Omit<ProgressMessage, 'routingKey'>) });
  }, { noAck: true });

  const baseUrl = opts.baseUrl ?? 'file:/';
  let seq = 0;
  const publishRaw = async (body: string | Buffer, pathHeader: string, o: { large?: boolean } = {}): Promise<void> => {
    ch.publish(o.large ? topology.large : topology.small, 'v03.test', Buffer.from(body), {
      persistent: true, contentType: 'application/json', headers: { hpcm_path: pathHeader },
    });
    await ch.waitForConfirms();
  };
  const h: ServiceHarness = {
    base, src, dst, state, outside, flow, exchange, topology, config, sub, progress,
    async announce(kind, rel, facts = {}, o = {}) {
      const path = Buffer.concat([Buffer.from(`${src}/`), typeof rel === 'string' ? Buffer.from(rel) : rel]);
      const s = o.seq ?? ++seq;
      const msg = buildAnnouncement({
        kind, path, baseUrl, pubTimeNs: nowNs(), ...facts,
        extra: { hpcm_host: HOST, hpcm_seq: s, hpcm_eventNs: nowNs().toString(), ...facts.extra },
      });
      ch.publish(o.large ? topology.large : topology.small, msg.topic, msg.bytes, {
        persistent: true, contentType: 'application/json', headers: msg.headers,
      });
      if (!o.noWait) await ch.waitForConfirms();
    },
    async confirmed() {
      await ch.waitForConfirms();
    },
    publishRaw,
    async takeParked() {
      const out: ParkedMessage[] = [];
      for (const stage of [topology.subscriberSmall, topology.subscriberLarge]) {
        await ch.assertQueue(`${stage.name}.parked`, { durable: true });
        for (;;) {
          const m = await ch.get(`${stage.name}.parked`, { noAck: true });
          if (m === false) break;
          out.push({ reason: String(m.properties.headers?.hpcm_reject ?? ''), body: m.content.toString() });
        }
      }
      return out;
    },
    async waitParked(n, timeoutMs = 30_000) {
      const got: ParkedMessage[] = [];
      await waitFor(async () => {
        got.push(...(await h.takeParked()));
        return got.length >= n;
      }, `${n} parked messages`, timeoutMs);
      got.push(...(await h.takeParked()));
      return got;
    },
    async waitSettled(n, timeoutMs = 30_000) {
      await waitFor(() => {
        const c = sub.metrics().counters;
        return c.applied + c.parked + c.suppressed >= n;
      }, `${n} messages settled`, timeoutMs);
    },
    async close() {
      await sub.stop();
      await conn.close().catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    },
  };
  if (opts.start !== false) await sub.start();
  return h;
}

/** Seqs reported in a given state, expanded. */
export function reportedSeqs(progress: ProgressMessage[], state: ProgressMessage['state']): Set<number> {
  const out = new Set<number>();
  for (const p of progress) if (p.state === state) for (const [lo, hi] of p.seqs) for (let i = lo; i <= hi; i++) out.add(i);
  return out;
}
