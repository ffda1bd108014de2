/**
 * Bounds the announcements in flight (journaled, published, not yet confirmed). When the broker
 * is slow or down the window fills and the reader stops: the spool is the durable buffer, memory
 * is not.
 */
export class PublishWindow {
  readonly limit: number;
  #inFlight = 0;
  #waiters: (() => void)[] = [];
  #closed = false;

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get full(): boolean {
    return this.#inFlight >= this.limit;
  }

  /** Takes a slot, waiting for one if none is free; false once the window is closed (stopping). */
  async acquire(): Promise<boolean> {
    while (!this.#closed && this.#inFlight >= this.limit) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.#closed) return false;
    this.#inFlight += 1;
    return true;
  }

  release(): void {
    this.#inFlight -= 1;
    this.#waiters.shift()?.();
  }

  /** Resolves when nothing is in flight, or after timeoutMs (returns whether it drained). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.#inFlight === 0;
  }

  /** Refuses further slots and wakes every waiter (on stop, so that nobody blocks forever). */
  close(): void {
    this.#closed = true;
    const w = this.#waiters;
    this.#waiters = [];
    for (const r of w) r();
  }
}
