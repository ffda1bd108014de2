/**
 * Gives up on work that reports no progress for `ms`: calls `onStall` (which drops the connection) and
 * rejects at once, so a request the remote side never answers cannot hang its caller.
 */
export class StallWatchdog {
  fired = false;
  readonly #ms: number;
  readonly #onStall: () => void;
  #last = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #reject: ((err: Error) => void) | undefined;

  constructor(ms: number, onStall: () => void) {
    this.#ms = ms;
    this.#onStall = onStall;
  }

  progress(): void {
    this.#last = Date.now();
  }

  /** `work`, or a rejection when it stalls or `giveUp` settles first (work left behind is muted). */
  async watch<T>(work: Promise<T>, giveUp?: Promise<never>): Promise<T> {
    work.catch(() => undefined);
    this.progress();
    const stalled = new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    this.#arm();
    try {
      return await Promise.race(giveUp ? [work, stalled, giveUp] : [work, stalled]);
    } finally {
      clearTimeout(this.#timer);
      this.#reject = undefined;
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    const idle = Date.now() - this.#last;
    this.#timer = setTimeout(
      () => {
        if (Date.now() - this.#last >= this.#ms) {
          this.fired = true;
          this.#onStall();
          this.#reject?.(new Error(`no progress for ${this.#ms} ms`));
        } else {
          this.#arm();
        }
      },
      Math.max(0, this.#ms - idle),
    );
    this.#timer.unref();
  }
}
