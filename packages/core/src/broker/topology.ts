import type { Channel } from 'amqplib';
import { PATH_HEADER } from '../message/body.js';

/**
 * A processing stage: messages published to `from` (a topic exchange) reach a consistent-hash
 * exchange keyed on the path header, which spreads them over `shards` durable queues, so one path
 * always meets one queue (and, with single-active-consumer, one process). Each backoff level has
 * its own retry queue whose TTL dead-letters back into the hash exchange; after the last attempt
 * a message rests in the parking queue with its reason (semantics.md "Ordering and sharding").
 */
export interface StageSpec {
  /** Queue name prefix, e.g. `q_opsm_ops.sub.small`. */
  name: string;
  /** Topic exchange the stage reads from. */
  from: string;
  shards: number;
  retryLevelsMs: readonly number[];
  queueType?: 'classic' | 'quorum';
  bindingKeys?: readonly string[];
  /**
   * Cap on each shard queue (the reverse flow's queue while the primary is down). Overflow drops the
   * oldest message and dead-letters it into the stage's overflow queue, which failback reads to
   * know that announcements were lost and a full scan is needed (semantics.md, failover).
   */
  maxLength?: number;
  maxLengthBytes?: number;
}

export interface StageNames {
  hashExchange: string;
  shardQueues: string[];
  retryQueues: string[];
  parkingQueue: string;
  /** Receives what a capped shard queue dropped (declared only for capped stages). */
  overflowQueue: string;
}

/** Messages the overflow queue keeps (the newest); one is enough to know that something was lost. */
const OVERFLOW_KEEP = 1000;

export function stageNames(spec: Pick<StageSpec, 'name' | 'shards' | 'retryLevelsMs'>): StageNames {
  return {
    hashExchange: `${spec.name}.hash`,
    shardQueues: Array.from({ length: spec.shards }, (_, i) => `${spec.name}.${i}`),
    retryQueues: spec.retryLevelsMs.map((_, i) => `${spec.name}.retry.${i}`),
    parkingQueue: `${spec.name}.parked`,
    overflowQueue: `${spec.name}.overflow`,
  };
}

export async function declareTopicExchange(ch: Channel, name: string): Promise<void> {
  await ch.assertExchange(name, 'topic', { durable: true });
}

export async function declareStage(ch: Channel, spec: StageSpec): Promise<StageNames> {
  const names = stageNames(spec);
  const qtype = spec.queueType ?? 'classic';
  await declareTopicExchange(ch, spec.from);
  await ch.assertExchange(names.hashExchange, 'x-consistent-hash', { durable: true, arguments: { 'hash-header': PATH_HEADER } });
  for (const key of spec.bindingKeys ?? ['#']) await ch.bindExchange(names.hashExchange, spec.from, key);
  const capped = spec.maxLength !== undefined || spec.maxLengthBytes !== undefined;
  if (capped) {
    await ch.assertExchange(names.overflowQueue, 'fanout', { durable: true });
    await ch.assertQueue(names.overflowQueue, { durable: true, arguments: { 'x-queue-type': qtype, 'x-max-length': OVERFLOW_KEEP } });
    await ch.bindQueue(names.overflowQueue, names.overflowQueue, '');
  }
  for (const q of names.shardQueues) {
    await ch.assertQueue(q, {
      durable: true,
      arguments: {
        'x-queue-type': qtype,
        'x-single-active-consumer': true,
        ...(capped && { 'x-overflow': 'drop-head', 'x-dead-letter-exchange': names.overflowQueue }),
        ...(spec.maxLength !== undefined && { 'x-max-length': spec.maxLength }),
        ...(spec.maxLengthBytes !== undefined && { 'x-max-length-bytes': spec.maxLengthBytes }),
      },
    });
    await ch.bindQueue(q, names.hashExchange, '1');
  }
  for (const [i, q] of names.retryQueues.entries()) {
    await ch.assertQueue(q, {
      durable: true,
      arguments: { 'x-queue-type': qtype, 'x-message-ttl': spec.retryLevelsMs[i], 'x-dead-letter-exchange': names.hashExchange },
    });
  }
  await ch.assertQueue(names.parkingQueue, { durable: true, arguments: { 'x-queue-type': qtype } });
  return names;
}
