import {
  DEFAULT_MAX_BODY_BYTES,
  echoOriginsFor,
  flowNamingFor,
  flowTopology,
  progressNames,
  HpcmError,
  winnowSchema,
  type FlowTopology,
  type LoadedConfig,
  type StageSpec,
} from '@hpcmirror/core';

const DEFAULT_MAX_ATTEMPTS = 20;

/** Everything the winnow reads from a flow config, resolved once and checked before connecting. */
export interface WinnowSettings {
  readonly topology: FlowTopology;
  /** The input: the winnow stage (consistent-hash exchange over `instances` shard queues). */
  readonly stage: StageSpec;
  /** Shard indexes this process consumes; undefined = all of them. */
  readonly shards: number[] | undefined;
  readonly progressExchange: string;
  /** Declare the subscriber stages too (the config has a `subscriber:` section), so nothing forwarded is unroutable. */
  readonly declareSubscriberStages: boolean;
  readonly windowMs: number;
  readonly cacheMax: number;
  readonly cacheTtlMs: number;
  readonly largeThresholdBytes: number;
  readonly prefetch: number;
  /** Held messages beyond which the oldest windows close early (3/4 of the prefetch). */
  readonly maxHeld: number;
  readonly maxAttempts: number;
  readonly maxBodyBytes: number;
  readonly sourceRoot: Buffer;
  readonly publishTimeoutMs: number;
  /** hpcm_origin values dropped as echoes of the mirror's own writes. */
  readonly echoOrigins: ReadonlySet<string>;
}

export function winnowSettings(config: LoadedConfig, instance?: number): WinnowSettings {
  const w = config.winnow ?? winnowSchema.parse({});
  if (instance !== undefined && (!Number.isInteger(instance) || instance < 0 || instance >= w.instances)) {
    throw new HpcmError('HPM_USAGE', `--instance ${instance}: must be an integer from 0 to ${w.instances - 1} (winnow.instances is ${w.instances})`, { field: 'instance' });
  }
  const sub = config.subscriber;
  // The one derivation every component uses, so all of them declare identical queues.
  const topology = flowTopology(flowNamingFor({ ...config, winnow: w }));
  return {
    topology,
    stage: topology.winnow,
    shards: instance === undefined ? undefined : [instance],
    progressExchange: progressNames(config, '').exchange,
    declareSubscriberStages: sub !== undefined,
    windowMs: w.window_ms,
    cacheMax: w.cache_max,
    cacheTtlMs: Math.round(w.cache_ttl_s * 1000),
    largeThresholdBytes: w.large_threshold_bytes,
    prefetch: w.prefetch,
    maxHeld: Math.max(1, Math.floor((w.prefetch * 3) / 4)),
    maxAttempts: sub?.max_attempts ?? DEFAULT_MAX_ATTEMPTS,
    maxBodyBytes: sub?.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES,
    sourceRoot: Buffer.from(config.source_root),
    echoOrigins: echoOriginsFor(config),
    publishTimeoutMs: config.broker.publish_timeout_ms,
  };
}
