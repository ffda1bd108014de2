/** Upper bounds (ms) of the latency histogram buckets; the last bucket is everything above. */
export const LATENCY_BUCKETS_MS = [10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 600_000] as const;

export interface LatencyHistogramSnapshot {
  count: number;
  sumMs: number;
  maxMs: number;
  /** `le` = upper bound in ms (Infinity for the last), count = events in this bucket (not cumulative). */
  buckets: { le: number; count: number }[];
}

/** Event-to-applied latency of every applied event, for metrics(). */
export class LatencyHistogram {
  readonly #counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  #count = 0;
  #sum = 0;
  #max = 0;

  observe(ms: number): void {
    const v = Math.max(0, ms);
    let i = LATENCY_BUCKETS_MS.findIndex((b) => v <= b);
    if (i < 0) i = LATENCY_BUCKETS_MS.length;
    this.#counts[i]!++;
    this.#count++;
    this.#sum += v;
    if (v > this.#max) this.#max = v;
  }

  snapshot(): LatencyHistogramSnapshot {
    return {
      count: this.#count,
      sumMs: this.#sum,
      maxMs: this.#max,
      buckets: this.#counts.map((count, i) => ({ le: LATENCY_BUCKETS_MS[i] ?? Infinity, count })),
    };
  }
}
