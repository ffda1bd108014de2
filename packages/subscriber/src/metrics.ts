import type { AntiEntropyStats } from './anti-entropy.js';
import type { DeleteGuardStatus } from './delete-guard.js';
import type { LatencyHistogramSnapshot } from './latency-histogram.js';
import type { SourceHealthSnapshot } from './source-health.js';

/** Counters of one subscriber process since start. */
export interface SubscriberCounters {
  received: number;
  /** Acked as applied (any of the outcomes below, or superseded). */
  applied: number;
  written: number;
  attrs: number;
  removed: number;
  unchanged: number;
  parentGone: number;
  /** Acked because a reconcile after its arrival already covered it. */
  superseded: number;
  /** Acked without applying: an accept/reject filter or one of our temp names. */
  suppressed: number;
  parked: number;
  retried: number;
  requeued: number;
  /** Bytes fetched from the source. */
  bytes: number;
  /** Destination entries removed (or moved to the trash). */
  removes: number;
  /** Messages with a field that was not followed (a rename outside the root...). */
  warnings: number;
}

export interface PoolMetrics {
  workers: number;
  busy: number;
  queued: number;
}

export interface SubscriberMetrics {
  running: boolean;
  counters: SubscriberCounters;
  pools: { small: PoolMetrics; large: PoolMetrics };
  /** Paths being worked on or waited for. */
  pathsHeld: number;
  deleteGuard: DeleteGuardStatus;
  /** Alerts for `status` (the delete guard's, when it holds removes back). */
  alerts: string[];
  latency: LatencyHistogramSnapshot;
  antiEntropy: AntiEntropyStats;
  hardLinkGroups: number;
  progressReportsPublished: number;
  /** Mtime precision the destination gets (ns): comparisons use it. */
  mtimePrecisionNs: number;
  /** Whether the source host answers (away at start, or the link dropped). */
  source: SourceHealthSnapshot;
  /** Why the subscriber runs degraded (the source unreachable), or null. */
  degraded: string | null;
}

export function newCounters(): SubscriberCounters {
  return {
    received: 0, applied: 0, written: 0, attrs: 0, removed: 0, unchanged: 0, parentGone: 0, superseded: 0,
    suppressed: 0, parked: 0, retried: 0, requeued: 0, bytes: 0, removes: 0, warnings: 0,
  };
}
