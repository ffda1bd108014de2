interface Entry {
  locked: boolean;
  waiters: (() => void)[];
  /** Tick at which the newest successful reconcile of this path read the source. */
  reconciledAt: number;
}

/**
 * One path is never worked on by two workers of this process at once (the consistent-hash exchange
 * and single-active-consumer already keep a path in one process). Waiters queue in arrival order.
 *
 * Ticks order events inside the process: a message that arrived before some successful reconcile of
 * its path *read the source* is superseded by it (that reconcile saw the source after the change the
 * message announces), so it is acked without a second look.
 */
export class PathLocks {
  readonly #entries = new Map<string, Entry>();
  #tick = 0;

  tick(): number {
    return ++this.#tick;
  }

  get held(): number {
    return this.#entries.size;
  }

  /** Runs fn holding every key (taken in sorted order, so two multi-key holders cannot deadlock). */
  async withLocks<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const taken: string[] = [];
    try {
      for (const k of sorted) {
        await this.#acquire(k);
        taken.push(k);
      }
      return await fn();
    } finally {
      for (const k of taken.reverse()) this.#release(k);
    }
  }

  /** Runs fn holding key if it is free now; undefined (fn not run) when someone holds it. */
  async tryWithLock<T>(key: string, fn: () => Promise<T>): Promise<T | undefined> {
    const e = this.#entries.get(key);
    if (e?.locked) return undefined;
    await this.#acquire(key);
    try {
      return await fn();
    } finally {
      this.#release(key);
    }
  }

  isLocked(key: string): boolean {
    return this.#entries.get(key)?.locked ?? false;
  }

  /** Records that a reconcile of key which read the source at `tick` succeeded. Call while holding key. */
  noteReconciled(key: string, tick: number): void {
    const e = this.#entries.get(key);
    if (e && tick > e.reconciledAt) e.reconciledAt = tick;
  }

  /** Whether a reconcile that read the source after `tick` has succeeded. Call while holding key. */
  reconciledAfter(key: string, tick: number): boolean {
    return (this.#entries.get(key)?.reconciledAt ?? 0) > tick;
  }

  async #acquire(key: string): Promise<void> {
    let e = this.#entries.get(key);
    if (!e) {
      this.#entries.set(key, { locked: true, waiters: [], reconciledAt: 0 });
      return;
    }
    if (!e.locked) {
      e.locked = true;
      return;
    }
    await new Promise<void>((resolve) => e!.waiters.push(resolve));
  }

  #release(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    const next = e.waiters.shift();
    if (next) next();
    else this.#entries.delete(key);
  }
}
