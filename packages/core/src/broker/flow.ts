import type { StageSpec } from './topology.js';

/** The broker names of one mirror flow, derived from its config in one place. */
export interface FlowTopology {
  source: string;
  winnow: StageSpec;
  small: string;
  large: string;
  subscriberSmall: StageSpec;
  subscriberLarge: StageSpec;
}

export interface FlowNaming {
  user: string;
  flow: string;
  exchange: string;
  winnowShards: number;
  subscriberShards: number;
  retryLevelsMs: readonly number[];
  queueType?: 'classic' | 'quorum';
  /** Caps on the subscriber stages' shard queues (broker.queue_max_length / queue_max_bytes). */
  subscriberMaxLength?: number;
  subscriberMaxBytes?: number;
}

export function flowTopology(n: FlowNaming): FlowTopology {
  const q = `q_${n.user}_${n.flow}`;
  const small = `${n.exchange}.small`;
  const large = `${n.exchange}.large`;
  const common = { retryLevelsMs: n.retryLevelsMs, ...(n.queueType && { queueType: n.queueType }) };
  const capped = {
    ...common,
    ...(n.subscriberMaxLength !== undefined && { maxLength: n.subscriberMaxLength }),
    ...(n.subscriberMaxBytes !== undefined && { maxLengthBytes: n.subscriberMaxBytes }),
  };
  return {
    source: n.exchange,
    winnow: { name: `${q}.winnow`, from: n.exchange, shards: n.winnowShards, ...common },
    small,
    large,
    subscriberSmall: { name: `${q}.sub.small`, from: small, shards: n.subscriberShards, ...capped },
    subscriberLarge: { name: `${q}.sub.large`, from: large, shards: n.subscriberShards, ...capped },
  };
}

/** The parts of a loaded config that name a flow's broker objects. */
export interface FlowConfig {
  user: string;
  flow: string;
  exchange: string;
  broker: { queue_type?: 'classic' | 'quorum'; queue_max_length?: number | undefined; queue_max_bytes?: number | undefined };
  winnow?: { instances: number } | undefined;
  subscriber?: { shards: number; retry_levels_s: readonly number[] } | undefined;
}

/**
 * Every component that declares a stage derives it here, so all of them assert identical queue
 * arguments (a mismatch would make RabbitMQ close the channel with PRECONDITION_FAILED).
 */
export function flowNamingFor(c: FlowConfig): FlowNaming {
  return {
    user: c.user,
    flow: c.flow,
    exchange: c.exchange,
    winnowShards: c.winnow?.instances ?? 1,
    subscriberShards: c.subscriber?.shards ?? 4,
    retryLevelsMs: (c.subscriber?.retry_levels_s ?? [1, 10, 60, 600]).map((s) => Math.round(s * 1000)),
    ...(c.broker.queue_type && { queueType: c.broker.queue_type }),
    ...(c.broker.queue_max_length !== undefined && { subscriberMaxLength: c.broker.queue_max_length }),
    ...(c.broker.queue_max_bytes !== undefined && { subscriberMaxBytes: c.broker.queue_max_bytes }),
  };
}

/** docs/progress.md: reports for source host `host` go to `<exchange>.progress` with key `progress.<host>`. */
export function progressNames(c: Pick<FlowConfig, 'user' | 'flow' | 'exchange'>, host: string): { exchange: string; routingKey: string; queue: string } {
  return {
    exchange: `${c.exchange}.progress`,
    routingKey: `progress.${host}`,
    queue: `q_${c.user}_${c.flow}.progress.${host}`,
  };
}
