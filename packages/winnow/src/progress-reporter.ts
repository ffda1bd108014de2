import type { Logger } from '@hpcmirror/core';
import type { Clock } from './clock.js';
import { mergeSeqs, rangesOf, type SeqSet } from './seq-set.js';

export type ProgressState = 'applied' | 'suppressed' | 'parked';

export interface ProgressReporterOptions {
  /** Publishes one report about `host`'s seqs with confirms (to `<exchange>.progress`, key `progress.<host>`). */
  publish: (host: string, body: Buffer) => Promise<void>;
  clock: Clock;
  logger: Logger;
  /** Longest a report waits for companions (docs/progress.md: at most 200 ms). */
  batchMs?: number;
  /** Reports waiting (callers holding unacked inputs) that make the batch go out at once. */
  maxWaiting?: number;
}

interface Batch {
  host: string;
  state: ProgressState;
  reason: string | undefined;
  seqs: SeqSet;
  paths: string[];
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

/**
 * Terminal states of source seqs, batched per (host, state, reason) for at most `batchMs` and
 * published with confirms (docs/progress.md). `report()` resolves once the report carrying it is
 * confirmed, so a caller can ack its input only after the progress is durable.
 */
export class ProgressReporter {
  readonly #opts: ProgressReporterOptions;
  readonly #batchMs: number;
  readonly #maxWaiting: number;
  #batches = new Map<string, Batch>();
  #waiting = 0;
  #timer: unknown;

  constructor(opts: ProgressReporterOptions) {
    this.#opts = opts;
    this.#batchMs = opts.batchMs ?? 200;
    // Each waiter holds an unacked input: do not let them eat the prefetch for the whole batch time.
    this.#maxWaiting = opts.maxWaiting ?? 256;
  }

  report(host: string, state: ProgressState, seqs: SeqSet, detail: { reason?: string; path?: string } = {}): Promise<void> {
    const id = `${state}\u0000${host}\u0000${detail.reason ?? ''}`;
    let batch = this.#batches.get(id);
    if (batch === undefined) {
      batch = { host, state, reason: detail.reason, seqs: [], paths: [], waiters: [] };
      this.#batches.set(id, batch);
    }
    batch.seqs = mergeSeqs(batch.seqs, seqs);
    if (detail.path !== undefined) batch.paths.push(detail.path);
    const b = batch;
    const done = new Promise<void>((resolve, reject) => b.waiters.push({ resolve, reject }));
    if (++this.#waiting >= this.#maxWaiting) {
      void this.flush();
      return done;
    }
    if (this.#timer === undefined) this.#timer = this.#opts.clock.setTimeout(() => void this.flush(), this.#batchMs);
    return done;
  }

  /** Publishes every open batch now. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) this.#opts.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const batches = [...this.#batches.values()];
    this.#batches = new Map();
    this.#waiting = 0;
    await Promise.all(batches.map(async (b) => {
      const body: Record<string, unknown> = { host: b.host, state: b.state, seqs: rangesOf(b.seqs) };
      if (b.reason !== undefined) body.reason = b.reason;
      if (b.paths.length > 0) body.paths = b.paths;
      try {
        await this.#opts.publish(b.host, Buffer.from(JSON.stringify(body)));
        for (const w of b.waiters) w.resolve();
      } catch (err) {
        this.#opts.logger.warn({ host: b.host, state: b.state, err: (err as Error).message }, 'progress report not confirmed');
        for (const w of b.waiters) w.reject(err);
      }
    }));
  }

  /** Reports waiting to be published. */
  get pending(): number {
    return this.#batches.size;
  }
}
