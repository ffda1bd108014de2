export { createSubscriber, type Subscriber, type SubscriberOptions } from './subscriber.js';
export type { SubscriberMetrics, SubscriberCounters, PoolMetrics } from './metrics.js';
export type { Clock } from './clock.js';
export { systemClock } from './clock.js';
export { latencyLogPathFor, resolveSettings, type SubscriberSettings, type SubscriberInputConfig } from './settings.js';
export { SUBSCRIBER_ERROR_CODES, SubscriberError, isSubscriberError, type SubscriberErrorCode } from './errors.js';
export {
  readLatencyLog, summarizeLatency, summarizeLatencyLog, LatencyLogWriter,
  type LatencyRecord, type LatencySummary,
} from './latency-log.js';
export { LATENCY_BUCKETS_MS, type LatencyHistogramSnapshot } from './latency-histogram.js';
export { MTIME_PRECISION_NS, COARSE_PRECISION_NS, sameMtime, truncateNs } from './dest/times.js';
export { isTempName, TEMP_PREFIX } from './temp-names.js';
export { MIRROR_ORIGIN } from './post-after-copy.js';
export * from './transports/index.js';
export { createTransportFor, createSftpTransportFor, openSftpSessionFor } from './transport-factory.js';
export { runRemoteHelper, type RemoteHelperOptions } from './remote-helper/server.js';
export { seqsOf } from './progress-reporter.js';
