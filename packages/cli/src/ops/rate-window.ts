/**
 * Per-second rates of monotonic counters over a sliding window of samples (the last ~10 s), so a
 * rate shown by `status` reflects now, not the average since start.
 */
export class RateWindow {
  readonly #windowMs: number;
  readonly #samples: { atMs: number; values: Record<string, number> }[] = [];

  constructor(windowMs = 10_000) {
    this.#windowMs = windowMs;
  }

  add(atMs: number, values: Record<string, number>): void {
    this.#samples.push({ atMs, values: { ...values } });
    // Keep one sample at or beyond the window's start, so the window is always fully covered.
    while (this.#samples.length > 2 && this.#samples[1]!.atMs <= atMs - this.#windowMs) this.#samples.shift();
  }

  /** Counter -> per second; a counter that went down (a restart reset it) counts from 0. */
  rates(): Record<string, number> {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    const out: Record<string, number> = {};
    if (!first || !last || last.atMs <= first.atMs) {
      for (const k of Object.keys(last?.values ?? {})) out[k] = 0;
      return out;
    }
    const seconds = (last.atMs - first.atMs) / 1000;
    for (const [k, v] of Object.entries(last.values)) {
      const before = first.values[k] ?? 0;
      const delta = v >= before ? v - before : v;
      out[k] = Math.round((delta / seconds) * 1000) / 1000;
    }
    return out;
  }
}
