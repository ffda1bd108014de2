import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import {
  flowTopology, isUnder, readCredentials, stateDirFor, subscriberSchema, withCredentials,
  type Config, type FlowTopology, type SubscriberConfig,
} from '@hpcmirror/core';
import { BaseUrlAllow } from './base-url-allow.js';
import { SubscriberError } from './errors.js';
import { rootBytes } from './path-bytes.js';
import { AcceptRejectFilter } from '@hpcmirror/core';

/** A loaded config (core's LoadedConfig fills `user` and `exchange`; plain Config works too). */
export type SubscriberInputConfig = Config & { user?: string; exchange?: string };

/** Everything the subscriber derives from its config, computed once at start. */
export interface SubscriberSettings {
  flow: string;
  user: string;
  exchange: string;
  progressExchange: string;
  sourceRoot: Buffer;
  destinationRoot: Buffer;
  stateDir: string;
  latencyLog: string;
  sub: SubscriberConfig;
  topology: FlowTopology;
  /** Broker URL with the password filled in from `credentials` (never logged). */
  brokerUrl: string;
  allow: BaseUrlAllow;
  filter: AcceptRejectFilter;
  trashDir: Buffer | undefined;
  /** chown to the source owner: config `owner` and running as root. */
  chown: boolean;
  /** Unacked messages per shard queue, per pool. */
  prefetchPerShard: { small: number; large: number };
}

export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

export function resolveSettings(config: SubscriberInputConfig): SubscriberSettings {
  const sub = subscriberSchema.parse(config.subscriber ?? {});
  if (!config.destination_root) throw new SubscriberError('HPM_SUB_CONFIG', 'destination_root: required by the subscriber');
  if ((sub.transport === 'sftp' || sub.transport === 'rsync') && !sub.ssh) {
    throw new SubscriberError('HPM_SUB_CONFIG', `subscriber.ssh: required for transport ${sub.transport}`);
  }
  if (sub.post_after_copy && !sub.post_exchange) throw new SubscriberError('HPM_SUB_CONFIG', 'subscriber.post_exchange: required when post_after_copy is on');
  const user = config.user ?? userInfo().username;
  const exchange = config.exchange ?? `xs_${user}_${config.flow}`;
  const sourceRoot = rootBytes(config.source_root);
  const destinationRoot = rootBytes(config.destination_root);
  if (sub.transport === 'local' && (isUnder(destinationRoot, sourceRoot) || isUnder(sourceRoot, destinationRoot))) {
    throw new SubscriberError('HPM_SUB_CONFIG', 'destination_root: must not overlap source_root for a local transport');
  }
  const stateDir = stateDirFor(config);
  const topology = flowTopology({
    user, flow: config.flow, exchange,
    winnowShards: config.winnow?.instances ?? 1,
    subscriberShards: sub.shards,
    retryLevelsMs: sub.retry_levels_s.map((s) => Math.round(s * 1000)),
    queueType: config.broker.queue_type,
    ...(config.broker.queue_max_length !== undefined && { subscriberMaxLength: config.broker.queue_max_length }),
    ...(config.broker.queue_max_bytes !== undefined && { subscriberMaxBytes: config.broker.queue_max_bytes }),
  });
  const brokerUrl = config.credentials ? withCredentials(config.broker.url, readCredentials(expandHome(config.credentials))) : config.broker.url;
  const perShard = (p: { workers: number; prefetch?: number | undefined }): number => Math.max(1, Math.ceil((p.prefetch ?? 2 * p.workers) / sub.shards));
  return {
    flow: config.flow,
    user,
    exchange,
    progressExchange: `${exchange}.progress`,
    sourceRoot,
    destinationRoot,
    stateDir,
    latencyLog: latencyLogPathFor(config),
    sub,
    topology,
    brokerUrl,
    allow: sub.base_url_allow.length ? new BaseUrlAllow(sub.base_url_allow) : BaseUrlAllow.forTransport(sub.transport, sub.ssh?.host),
    filter: new AcceptRejectFilter(sub.accept, sub.reject),
    trashDir: sub.trash_dir ? rootBytes(expandHome(sub.trash_dir)) : undefined,
    chown: sub.owner && process.getuid?.() === 0,
    prefetchPerShard: { small: perShard(sub.pools.small), large: perShard(sub.pools.large) },
  };
}

/** Where the subscriber of this config writes its latency log (what `hpcmirror audit` reads). */
export function latencyLogPathFor(config: SubscriberInputConfig): string {
  const file = config.subscriber?.latency_log;
  return file ? expandHome(file) : join(stateDirFor(config), 'latency.log');
}
