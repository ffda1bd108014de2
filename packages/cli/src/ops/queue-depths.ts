import { flowNamingFor, flowTopology, progressNames, redactUrl, stageNames, type LoadedConfig, type StageSpec } from '@hpcmirror/core';
import { checkQueues, describeBrokerFailure, openProbeConnection, type BrokerFailure } from './broker-probe.js';
import { managedQueues, type ManagedQueue } from './management-api.js';

/** One queue of a stage. `ready`/`unacked` are split only by the management API (AMQP gives ready only). */
export interface QueueDepth {
  name: string;
  messages: number;
  unacked: number | null;
  consumers: number;
}

/** A stage of the flow on the broker: its shard queues, retry queues and parking queue, summed. */
export interface StageQueues {
  stage: 'winnow' | 'sub.small' | 'sub.large' | 'progress';
  /** Whether the stage's queues exist on the broker (a stage no component has declared yet does not). */
  declared: boolean;
  /** Messages waiting in the shard queues (ready, plus unacked when known). */
  messages: number;
  unacked: number | null;
  consumers: number;
  /** Messages waiting in the retry (backoff) queues. */
  retry: number;
  parked: number;
  /** Messages per second into the shard queues and acked out of them (management API only). */
  inRate: number | null;
  outRate: number | null;
  queues: QueueDepth[];
}

export interface BrokerView {
  /** The broker URL without its password. */
  url: string;
  via: 'management' | 'amqp';
  reachable: boolean;
  error?: BrokerFailure;
  /** The management API was asked and failed (no `management` tag for the user, wrong URL): AMQP was used. */
  managementError?: string;
  stages: StageQueues[];
}

interface StageNaming {
  stage: StageQueues['stage'];
  shardQueues: string[];
  retryQueues: string[];
  parkingQueue: string | null;
}

function stagesOf(cfg: LoadedConfig, progressHosts: readonly string[]): StageNaming[] {
  const t = flowTopology(flowNamingFor(cfg));
  const of = (stage: StageNaming['stage'], spec: StageSpec): StageNaming => {
    const n = stageNames(spec);
    return { stage, shardQueues: n.shardQueues, retryQueues: n.retryQueues, parkingQueue: n.parkingQueue };
  };
  const stages = [of('winnow', t.winnow), of('sub.small', t.subscriberSmall), of('sub.large', t.subscriberLarge)];
  if (progressHosts.length) {
    stages.push({ stage: 'progress', shardQueues: progressHosts.map((h) => progressNames(cfg, h).queue), retryQueues: [], parkingQueue: null });
  }
  return stages;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

function summarize(n: StageNaming, find: (name: string) => QueueDepth | null | undefined, rates?: (names: string[]) => { in: number | null; out: number | null }): StageQueues {
  const shards = n.shardQueues.map(find).filter((q): q is QueueDepth => !!q);
  const retry = n.retryQueues.map(find).filter((q): q is QueueDepth => !!q);
  const parked = n.parkingQueue ? find(n.parkingQueue) : null;
  const unacked = shards.every((q) => q.unacked !== null) ? sum(shards.map((q) => q.unacked ?? 0)) : null;
  const r = rates?.(n.shardQueues) ?? { in: null, out: null };
  return {
    stage: n.stage,
    declared: shards.length > 0,
    messages: sum(shards.map((q) => q.messages)),
    unacked,
    consumers: sum(shards.map((q) => q.consumers)),
    retry: sum(retry.map((q) => q.messages)),
    parked: parked?.messages ?? 0,
    inRate: r.in,
    outRate: r.out,
    queues: [...shards, ...retry, ...(parked ? [parked] : [])],
  };
}

/**
 * Queue depths of a flow's stages: from the management API when one is known (depths, unacked and
 * rates; shard counts as they are on the broker), else, or when it fails, from AMQP passive
 * declares of the queue names the config derives (ready messages and consumers).
 */
export async function brokerView(cfg: LoadedConfig, o: { managementUrl?: string | undefined; progressHosts: readonly string[]; timeoutMs?: number }): Promise<BrokerView> {
  const url = redactUrl(cfg.broker.url);
  const naming = stagesOf(cfg, o.progressHosts);
  let managementError: string | undefined;
  if (o.managementUrl) {
    try {
      const { queues } = await managedQueues(o.managementUrl, cfg.broker, `q_${cfg.user}_${cfg.flow}.`, o.timeoutMs);
      const byName = new Map<string, ManagedQueue>(queues.map((q) => [q.name, q]));
      // Shards as declared on the broker (a config may name fewer than the stage has).
      for (const n of naming) {
        if (n.stage === 'progress') {
          n.shardQueues = queues.filter((q) => q.name.startsWith(`q_${cfg.user}_${cfg.flow}.progress.`)).map((q) => q.name);
          continue;
        }
        const base = n.parkingQueue!.replace(/\.parked$/, '');
        const shardRe = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)$`);
        const found = queues.filter((q) => shardRe.test(q.name)).map((q) => q.name).sort((a, b) => Number(a.match(shardRe)![1]) - Number(b.match(shardRe)![1]));
        if (found.length) n.shardQueues = found;
      }
      const find = (name: string): QueueDepth | undefined => {
        const q = byName.get(name);
        return q && { name, messages: q.messages, unacked: q.unacked, consumers: q.consumers };
      };
      const rates = (names: string[]) => {
        const qs = names.map((x) => byName.get(x)).filter((q): q is ManagedQueue => !!q);
        const total = (pick: (q: ManagedQueue) => number | null): number | null => (qs.some((q) => pick(q) !== null) ? sum(qs.map((q) => pick(q) ?? 0)) : null);
        return { in: total((q) => q.publishRate), out: total((q) => q.ackRate) };
      };
      return { url, via: 'management', reachable: true, stages: naming.map((n) => summarize(n, find, rates)) };
    } catch (err) {
      managementError = `${o.managementUrl}: ${describeBrokerFailure(err, cfg.broker).message}`;
    }
  }
  const viaAmqp = { url, via: 'amqp' as const, ...(managementError && { managementError }) };
  let conn;
  try {
    conn = await openProbeConnection(cfg.broker, 'hpcmirror status', o.timeoutMs);
  } catch (err) {
    return { ...viaAmqp, reachable: false, error: describeBrokerFailure(err, cfg.broker), stages: [] };
  }
  try {
    const names = naming.flatMap((n) => [...n.shardQueues, ...n.retryQueues, ...(n.parkingQueue ? [n.parkingQueue] : [])]);
    const found = await checkQueues(conn, names);
    const find = (name: string): QueueDepth | null => {
      const q = found.get(name);
      return q ? { name, messages: q.messages, unacked: null, consumers: q.consumers } : null;
    };
    return { ...viaAmqp, reachable: true, stages: naming.map((n) => summarize(n, find)) };
  } finally {
    await conn.close().catch(() => undefined);
  }
}
