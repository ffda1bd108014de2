import type { Clock } from './clock.js';

export interface SourceHealthSnapshot {
  reachable: boolean;
  /** When the source was last found unreachable (ISO), null while it is reachable. */
  since: string | null;
  lastError: string | null;
  /** Failed connection attempts (or applies that failed on the connection) since it went away. */
  failures: number;
}

/**
 * Whether the source host answers, as `status` shows it: a subscriber that cannot reach its source
 * keeps running (and retrying) but reports itself degraded, whether the source was away from the
 * start or the link dropped later.
 */
export class SourceHealth {
  readonly #clock: Clock;
  #downSinceMs: number | null = null;
  #lastError: string | null = null;
  #failures = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  down(reason: string): void {
    this.#downSinceMs ??= Number(this.#clock.nowNs() / 1_000_000n);
    this.#lastError = reason;
    this.#failures++;
  }

  up(): void {
    this.#downSinceMs = null;
    this.#lastError = null;
    this.#failures = 0;
  }

  get reachable(): boolean {
    return this.#downSinceMs === null;
  }

  /** One line for `status`, or null when all is well. */
  get degraded(): string | null {
    return this.#downSinceMs === null ? null : `source unreachable since ${new Date(this.#downSinceMs).toISOString()}: ${this.#lastError ?? ''}`;
  }

  snapshot(): SourceHealthSnapshot {
    return {
      reachable: this.reachable,
      since: this.#downSinceMs === null ? null : new Date(this.#downSinceMs).toISOString(),
      lastError: this.#lastError,
      failures: this.#failures,
    };
  }
}
