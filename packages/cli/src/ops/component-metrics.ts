import type { AgentCounters, AgentMetrics } from '@hpcmirror/agent';
import type { SubscriberCounters } from '@hpcmirror/subscriber';
import type { WinnowCounters } from '@hpcmirror/winnow';
import type { Component } from './components.js';

// Which numbers of each service's metrics() only ever go up (Prometheus counters, status rates).
// Typed against the services' own counter interfaces, so a counter added there fails to compile here.
const agentCounters = {
  recordsRead: true, recordsSkipped: true, skippedBytes: true, unknownOps: true, published: true, confirmed: true,
  publishRetries: true, lossMarkers: true, scansScheduled: true, segmentsDeleted: true,
} satisfies Record<keyof AgentCounters, true>;

const winnowCounters = {
  received: true, forwarded: true, forwardedSmall: true, forwardedLarge: true, suppressed: true, echoes: true, coalesced: true,
  parked: true, forwardFailures: true, requeued: true,
} satisfies Record<keyof WinnowCounters, true>;

const subscriberCounters = {
  received: true, applied: true, written: true, attrs: true, removed: true, unchanged: true, parentGone: true,
  superseded: true, suppressed: true, parked: true, retried: true, requeued: true, bytes: true, removes: true, warnings: true,
} satisfies Record<keyof SubscriberCounters, true>;

const COUNTER_PATHS: Record<Component, ReadonlySet<string>> = {
  agent: new Set(Object.keys(agentCounters)),
  // WatcherMetrics: per-tree counters sit in an array, only the totals are counters here.
  watch: new Set(['recordsWritten', 'recordsLost']),
  winnow: new Set([...Object.keys(winnowCounters), 'cacheEvictions']),
  subscriber: new Set([
    ...Object.keys(subscriberCounters).map((k) => `counters.${k}`),
    'antiEntropy.checked', 'antiEntropy.repaired', 'antiEntropy.tempsRemoved', 'antiEntropy.errors',
    'deleteGuard.refused', 'progressReportsPublished',
  ]),
};

/** Dotted paths (e.g. `counters.applied`) of the monotonic counters in a component's metrics(). */
export function counterPaths(component: Component): ReadonlySet<string> {
  return COUNTER_PATHS[component];
}

/** The value at a dotted path, when it is a finite number. */
export function numberAt(metrics: unknown, path: string): number | undefined {
  let v: unknown = metrics;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Every counter's current value, for rates. */
export function counterValues(component: Component, metrics: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  for (const path of counterPaths(component)) {
    const v = numberAt(metrics, path);
    if (v !== undefined) out[path] = v;
  }
  return out;
}

/** The agent's numbers the lag is computed from. */
export function lagInputs(component: Component, metrics: unknown): { assigned: number; watermark: number } | undefined {
  if (component !== 'agent') return undefined;
  const m = metrics as Partial<AgentMetrics> | undefined;
  if (typeof m?.assignedSeq !== 'number' || typeof m.progressWatermark !== 'number') return undefined;
  return { assigned: m.assignedSeq, watermark: m.progressWatermark };
}
