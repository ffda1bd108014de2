const MAX_MARKS = 100_000;

/**
 * Age of the oldest announced event that is not yet terminal (applied, superseded, suppressed,
 * coalesced or parked), from two numbers the agent keeps: the highest hpcm_seq assigned and the
 * progress watermark (every seq at or below it is terminal). Each update notes when seqs were first
 * seen assigned; seqs assigned before the first update count from that update (an underestimate
 * right after a restart).
 */
export class LagTracker {
  /** Ascending: the seqs in (previous mark's seq, seq] were first seen at atMs. */
  readonly #marks: { seq: number; atMs: number }[] = [];
  #assigned = 0;

  update(nowMs: number, assigned: number, watermark: number): { oldestPendingS: number; pending: number } {
    if (assigned > this.#assigned) {
      this.#marks.push({ seq: assigned, atMs: nowMs });
      this.#assigned = assigned;
      if (this.#marks.length > MAX_MARKS) this.#marks.splice(1, 1);
    }
    while (this.#marks.length && this.#marks[0]!.seq <= watermark) this.#marks.shift();
    const pending = Math.max(0, this.#assigned - watermark);
    const oldest = pending > 0 ? this.#marks[0] : undefined;
    return { pending, oldestPendingS: oldest ? Math.max(0, (nowMs - oldest.atMs) / 1000) : 0 };
  }
}
