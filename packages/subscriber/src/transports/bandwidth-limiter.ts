import { setTimeout as sleep } from 'node:timers/promises';

/** Paces one transfer to a byte rate: callers ask before moving each chunk. */
export class BandwidthLimiter {
  readonly #bytesPerSec: number;
  readonly #now: () => number;
  #startMs: number | undefined;
  #granted = 0;

  constructor(bytesPerSec: number, now: () => number = () => performance.now()) {
    this.#bytesPerSec = bytesPerSec;
    this.#now = now;
  }

  /** Resolve once `bytes` more may be moved without exceeding the rate since the first call. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.#now();
    this.#startMs ??= now;
    const dueMs = this.#startMs + (this.#granted / this.#bytesPerSec) * 1000;
    this.#granted += bytes;
    if (dueMs > now) await sleep(dueMs - now, undefined, signal ? { signal } : undefined);
  }
}
