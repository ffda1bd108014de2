/**
 * The broker side of failover and failback: the forward subscribers' pending messages are set aside
 * (moved into one durable queue nobody consumes) so that pre-outage versions are never pulled over
 * newer secondary files when the primary comes back; failback discards them. The reverse flow's
 * queues are declared at failover (capped), so nothing announced during the outage is unroutable,
 * and their overflow queues tell failback whether announcements were lost.
 */
import type { ConfirmChannel, GetMessage } from 'amqplib';
import {
  declareStage, flowNamingFor, flowTopology, parseTime, progressNames, stageNames, type LoadedConfig, type StageSpec,
} from '@hpcmirror/core';
import { seqsOf } from '@hpcmirror/subscriber';
import { checkQueues, openProbeConnection, type ProbeConnection } from '../ops/broker-probe.js';

export interface SetAsideResult {
  queue: string;
  moved: number;
  /** Event time (ns) of the oldest message set aside: the forward flow was fully applied only before it. */
  oldestEventNs: string | null;
}

function subscriberStages(cfg: LoadedConfig): StageSpec[] {
  const t = flowTopology(flowNamingFor(cfg));
  return [t.subscriberSmall, t.subscriberLarge];
}

export function setAsideQueueOf(cfg: Pick<LoadedConfig, 'user' | 'flow'>): string {
  return `q_${cfg.user}_${cfg.flow}.sub.set-aside`;
}

async function withConnection<T>(cfg: LoadedConfig, name: string, fn: (conn: ProbeConnection) => Promise<T>): Promise<T> {
  const conn = await openProbeConnection(cfg.broker, name);
  try {
    return await fn(conn);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

function eventNsOf(msg: GetMessage): bigint | undefined {
  try {
    const body = JSON.parse(msg.content.toString('utf8')) as { hpcm_eventNs?: unknown; pubTime?: unknown };
    if (typeof body.hpcm_eventNs === 'string' && /^\d+$/.test(body.hpcm_eventNs)) return BigInt(body.hpcm_eventNs);
    if (typeof body.pubTime === 'string') return parseTime(body.pubTime);
  } catch {
    // Not ours to judge here: it is set aside like any other.
  }
  return undefined;
}

async function moveAll(ch: ConfirmChannel, from: string, to: string, onMessage: (m: GetMessage) => void): Promise<number> {
  let moved = 0;
  for (;;) {
    const batch: GetMessage[] = [];
    for (let m = await ch.get(from, { noAck: false }); m; m = batch.length < 500 ? await ch.get(from, { noAck: false }) : false) {
      batch.push(m);
      onMessage(m);
      const p = m.properties;
      ch.sendToQueue(to, m.content, {
        persistent: true,
        ...(p.headers && { headers: p.headers }),
        ...(p.messageId && { messageId: p.messageId }),
        ...(p.contentType && { contentType: p.contentType }),
      });
    }
    if (!batch.length) return moved;
    // Acked only once the copies are confirmed: an interruption duplicates, never loses.
    await ch.waitForConfirms();
    for (const m of batch) ch.ack(m);
    moved += batch.length;
  }
}

/** Moves every pending message of the forward subscriber stages (shard and retry queues) into the set-aside queue. */
export async function setAsideForwardQueues(cfg: LoadedConfig): Promise<SetAsideResult> {
  const target = setAsideQueueOf(cfg);
  return withConnection(cfg, 'hpcmirror failover', async (conn) => {
    const names = subscriberStages(cfg).flatMap((s) => { const n = stageNames(s); return [...n.shardQueues, ...n.retryQueues]; });
    const present = [...(await checkQueues(conn, names)).values()].filter((q) => q !== null).map((q) => q.name);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(target, { durable: true });
    let oldest: bigint | undefined;
    let moved = 0;
    for (const q of present) {
      moved += await moveAll(ch, q, target, (m) => {
        const ns = eventNsOf(m);
        if (ns !== undefined && (oldest === undefined || ns < oldest)) oldest = ns;
      });
    }
    await ch.close();
    return { queue: target, moved, oldestEventNs: oldest === undefined ? null : oldest.toString() };
  });
}

/**
 * Failback's end: the set-aside messages, and whatever reached the forward queues since, are
 * discarded. Their events count as done (superseded by the failback's reconciliation): each is
 * reported applied to the flow's progress exchange, so `wait` does not wait for them forever.
 */
export async function discardForwardQueues(cfg: LoadedConfig): Promise<{ discarded: number }> {
  return withConnection(cfg, 'hpcmirror failback', async (conn) => {
    const names = subscriberStages(cfg).flatMap((s) => { const n = stageNames(s); return [...n.shardQueues, ...n.retryQueues]; });
    const present = [...(await checkQueues(conn, [...names, setAsideQueueOf(cfg)])).values()].filter((q) => q !== null);
    const ch = await conn.createConfirmChannel();
    const progress = progressNames(cfg, '').exchange;
    await ch.assertExchange(progress, 'topic', { durable: true });
    let discarded = 0;
    for (const q of present) {
      for (;;) {
        const batch: GetMessage[] = [];
        for (let m = await ch.get(q.name, { noAck: false }); m; m = batch.length < 500 ? await ch.get(q.name, { noAck: false }) : false) batch.push(m);
        if (!batch.length) break;
        const byHost = new Map<string, [number, number][]>();
        for (const m of batch) {
          let body: Record<string, unknown> = {};
          try { body = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>; } catch { /* no seqs to report */ }
          const s = seqsOf(body);
          if (s) byHost.set(s.host, [...(byHost.get(s.host) ?? []), ...s.seqs]);
        }
        for (const [host, seqs] of byHost) {
          const report = { host, state: 'applied', seqs, reason: 'superseded by failback' };
          ch.publish(progress, progressNames(cfg, host).routingKey, Buffer.from(JSON.stringify(report)), { persistent: true, contentType: 'application/json' });
        }
        await ch.waitForConfirms();
        for (const m of batch) ch.ack(m);
        discarded += batch.length;
      }
      if (q.name === setAsideQueueOf(cfg)) await ch.deleteQueue(q.name);
    }
    await ch.close();
    return { discarded };
  });
}

/** Declares the reverse flow's stages (with their caps) so announcements made during the outage wait on the broker. */
export async function declareReverseStages(cfg: LoadedConfig): Promise<void> {
  await withConnection(cfg, 'hpcmirror failover', async (conn) => {
    const ch = await conn.createChannel();
    const t = flowTopology(flowNamingFor(cfg));
    for (const s of [t.winnow, t.subscriberSmall, t.subscriberLarge]) await declareStage(ch, s);
    await ch.close();
  });
}

export interface ReverseQueueView {
  /** Announcements waiting for the reverse subscribers. */
  waiting: number;
  /** Announcements the capped queue dropped: failback must do a full scan. */
  overflowed: number;
}

export async function reverseQueueView(cfg: LoadedConfig): Promise<ReverseQueueView> {
  return withConnection(cfg, 'hpcmirror failback', async (conn) => {
    const stages = subscriberStages(cfg).map((s) => stageNames(s));
    const t = flowTopology(flowNamingFor(cfg));
    const waitingNames = [...stageNames(t.winnow).shardQueues, ...stages.flatMap((n) => [...n.shardQueues, ...n.retryQueues])];
    const found = await checkQueues(conn, [...waitingNames, ...stages.map((n) => n.overflowQueue)]);
    let waiting = 0;
    let overflowed = 0;
    for (const [name, q] of found) {
      if (!q) continue;
      if (name.endsWith('.overflow')) overflowed += q.messages;
      else waiting += q.messages;
    }
    return { waiting, overflowed };
  });
}

/** After failback: the overflow markers are spent (the full scan covered what they stood for). */
export async function clearReverseOverflow(cfg: LoadedConfig): Promise<void> {
  await withConnection(cfg, 'hpcmirror failback', async (conn) => {
    const names = subscriberStages(cfg).map((s) => stageNames(s).overflowQueue);
    const present = [...(await checkQueues(conn, names)).values()].filter((q) => q !== null);
    const ch = await conn.createChannel();
    for (const q of present) await ch.purgeQueue(q.name);
    await ch.close();
  });
}
