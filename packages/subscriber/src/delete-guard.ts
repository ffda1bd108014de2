import type { Clock } from './clock.js';
import { SubscriberError } from './errors.js';

export interface DeleteGuardStatus {
  limitPerMin: number;
  /** Removes done in the last 60 s. */
  lastMinute: number;
  paused: boolean;
  /** ms since the epoch the current pause began. */
  pausedSince: number | null;
  /** Removes refused since the subscriber started (each is retried later). */
  refused: number;
  /** Set while paused; shown by `status`. */
  alert: string | null;
}

/**
 * semantics.md: more removes per minute than configured pauses removes (copies go on) and raises an
 * alert. A refused remove throws HPM_SUB_DELETE_PAUSED (retryable): the message goes to a retry queue,
 * it is not acked as done. A limit of 0 turns the guard off.
 */
export class DeleteGuard {
  readonly #limit: number;
  readonly #clock: Clock;
  /** Removes per second over the last 60 s, as [second, count]. */
  readonly #buckets: [number, number][] = [];
  #pausedSince: number | null = null;
  #refused = 0;

  constructor(limitPerMin: number, clock: Clock) {
    this.#limit = limitPerMin;
    this.#clock = clock;
  }

  /** Counts one remove, or throws when the guard is holding removes back. */
  take(): void {
    if (this.#limit === 0) return;
    const now = this.#clock.nowMs();
    const count = this.#count(now);
    if (count >= this.#limit) {
      this.#pausedSince ??= now;
      this.#refused++;
      throw new SubscriberError('HPM_SUB_DELETE_PAUSED', `more than ${this.#limit} removes in the last minute: removes paused (delete_guard_per_min)`);
    }
    this.#pausedSince = null;
    const sec = Math.floor(now / 1000);
    const last = this.#buckets[this.#buckets.length - 1];
    if (last && last[0] === sec) last[1]++;
    else this.#buckets.push([sec, 1]);
  }

  status(): DeleteGuardStatus {
    const now = this.#clock.nowMs();
    const lastMinute = this.#count(now);
    if (this.#pausedSince !== null && lastMinute < this.#limit) this.#pausedSince = null;
    const paused = this.#pausedSince !== null;
    return {
      limitPerMin: this.#limit,
      lastMinute,
      paused,
      pausedSince: this.#pausedSince,
      refused: this.#refused,
      alert: paused ? `delete guard: ${lastMinute} removes in the last minute (limit ${this.#limit}); removes paused since ${new Date(this.#pausedSince!).toISOString()}` : null,
    };
  }

  #count(now: number): number {
    const from = Math.floor(now / 1000) - 59;
    while (this.#buckets.length && this.#buckets[0]![0] < from) this.#buckets.shift();
    return this.#buckets.reduce((n, b) => n + b[1], 0);
  }
}
