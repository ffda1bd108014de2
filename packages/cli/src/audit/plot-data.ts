import type { LatencyRecord } from '@hpcmirror/subscriber';

/** One drawn event: when the shim saw it (ms since the epoch) and how long until the destination had it. */
export interface PlotPoint {
  t: number;
  ms: number;
}

/** Latency quantiles of the events seen in one time slice. */
export interface PlotBin {
  t0: number;
  t1: number;
  /** Middle of the slice (where its p50/p99 are drawn). */
  t: number;
  events: number;
  /** null for a slice without events (the lines break there). */
  p50: number | null;
  p99: number | null;
}

/** Events whose latency falls in [lo, hi) ms (log-spaced: 5 buckets per power of ten). */
export interface HistogramBucket {
  lo: number;
  hi: number;
  count: number;
}

export interface PlotData {
  /** At most `maxPoints` events, evenly strided over the log (so a long run stays drawable). */
  points: PlotPoint[];
  bins: PlotBin[];
  histogram: HistogramBucket[];
  events: number;
  p50: number;
  p99: number;
  max: number;
}

export interface PlotDataOptions {
  maxPoints?: number;
  bins?: number;
  /** Records with eventNs before this are left out. */
  sinceNs?: bigint;
}

/** Latencies below this are drawn at it: the axis is logarithmic. */
export const FLOOR_MS = 0.1;

/** Nearest-rank quantile of sorted values (the definition summarizeLatency uses). */
export function quantile(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]! : 0;
}

/**
 * Per-event latency against event time, and p50/p99 per time slice computed from every event
 * (only the scatter is thinned out).
 */
export async function plotData(records: AsyncIterable<LatencyRecord> | Iterable<LatencyRecord>, opts: PlotDataOptions = {}): Promise<PlotData> {
  const maxPoints = opts.maxPoints ?? 20_000;
  const nBins = opts.bins ?? 60;
  const since = opts.sinceNs ?? 0n;
  const all: PlotPoint[] = [];
  for await (const r of records) {
    if (r.eventNs < since) continue;
    all.push({ t: Number(r.eventNs / 1_000_000n), ms: Math.max(0, Number(r.appliedNs - r.eventNs) / 1e6) });
  }
  all.sort((a, b) => a.t - b.t);
  const sortedMs = all.map((p) => p.ms).sort((a, b) => a - b);
  const stride = Math.max(1, Math.ceil(all.length / maxPoints));
  const points = all.filter((_, i) => i % stride === 0).map((p) => ({ t: p.t, ms: Math.max(FLOOR_MS, p.ms) }));

  const bins: PlotBin[] = [];
  if (all.length > 0) {
    const first = all[0]!.t;
    const span = Math.max(1, all[all.length - 1]!.t - first + 1);
    const width = span / nBins;
    const slices: number[][] = Array.from({ length: nBins }, () => []);
    for (const p of all) slices[Math.min(nBins - 1, Math.floor((p.t - first) / width))]!.push(p.ms);
    for (const [i, ms] of slices.entries()) {
      const t0 = first + i * width;
      if (ms.length === 0) {
        bins.push({ t0, t1: t0 + width, t: t0 + width / 2, events: 0, p50: null, p99: null });
        continue;
      }
      ms.sort((a, b) => a - b);
      bins.push({ t0, t1: t0 + width, t: t0 + width / 2, events: ms.length, p50: Math.max(FLOOR_MS, quantile(ms, 0.5)), p99: Math.max(FLOOR_MS, quantile(ms, 0.99)) });
    }
  }
  return {
    points,
    bins,
    histogram: histogramOf(sortedMs),
    events: all.length,
    p50: quantile(sortedMs, 0.5),
    p99: quantile(sortedMs, 0.99),
    max: sortedMs.length ? sortedMs[sortedMs.length - 1]! : 0,
  };
}

const PER_DECADE = 5;

/** Log-spaced buckets from the floor up to the largest latency; empty buckets inside the range are kept. */
export function histogramOf(sortedMs: readonly number[]): HistogramBucket[] {
  if (sortedMs.length === 0) return [];
  const k = (ms: number): number => Math.floor(Math.log10(Math.max(FLOOR_MS, ms)) * PER_DECADE + 1e-9);
  const lo = k(sortedMs[0]!);
  const hi = k(sortedMs[sortedMs.length - 1]!);
  const edge = (i: number): number => 10 ** (i / PER_DECADE);
  const out: HistogramBucket[] = [];
  for (let i = lo; i <= hi; i++) out.push({ lo: edge(i), hi: edge(i + 1), count: 0 });
  for (const ms of sortedMs) out[k(ms) - lo]!.count++;
  return out;
}
