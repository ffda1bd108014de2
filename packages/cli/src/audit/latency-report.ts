import type { LatencySummary } from '@hpcmirror/subscriber';

const fmt = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);

/** The latency report of the Sarracenia HPC study: events, mean, p50, p99, max, over 300 s and 600 s. */
export function renderLatencyReport(r: LatencySummary): string {
  return [
    `latency (shim saw the change -> destination rename done), ${r.events} events:`,
    `  mean ${fmt(r.meanMs)}   p50 ${fmt(r.p50Ms)}   p99 ${fmt(r.p99Ms)}   max ${fmt(r.maxMs)}   over 300 s: ${r.over300s}   over 600 s: ${r.over600s}`,
  ].join('\n');
}
