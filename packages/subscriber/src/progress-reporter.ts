import type { Logger, Publisher } from '@hpcmirror/core';

/** docs/progress.md: the terminal states a subscriber reports (superseded counts as applied). */
export type ProgressState = 'applied' | 'suppressed' | 'parked';

export interface ProgressReport {
  host: string;
  state: ProgressState;
  /** Sequence ranges [lo, hi] (inclusive). */
  seqs: [number, number][];
  reason?: string;
  /** relPath of the message (parked reports only). */
  path?: string;
}

interface Batch {
  host: string;
  state: ProgressState;
  reason: string | undefined;
  ranges: [number, number][];
  paths: Set<string>;
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

const MAX_PATHS = 100;

/**
 * Publishes progress reports with confirms to `<exchange>.progress`, routing key `progress.<host>`.
 * Reports are batched for at most `maxDelayMs` (200): the first one goes out at once, and those made
 * while a publish awaits its confirm go together in the next. `report()` resolves once the broker has
 * confirmed the message carrying it, so the caller acks its input only after that.
 */
export class ProgressReporter {
  readonly #publisher: Publisher;
  readonly #exchange: string;
  readonly #log: Logger;
  readonly #maxDelayMs: number;
  readonly #pending = new Map<string, Batch>();
  #inFlight = 0;
  #immediate: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #published = 0;

  constructor(publisher: Publisher, progressExchange: string, logger: Logger, maxDelayMs = 200) {
    this.#publisher = publisher;
    this.#exchange = progressExchange;
    this.#log = logger;
    this.#maxDelayMs = maxDelayMs;
  }

  get published(): number {
    return this.#published;
  }

  report(r: ProgressReport): Promise<void> {
    const key = `${r.host}\0${r.state}\0${r.reason ?? ''}`;
    let b = this.#pending.get(key);
    if (!b) this.#pending.set(key, (b = { host: r.host, state: r.state, reason: r.reason, ranges: [], paths: new Set(), waiters: [] }));
    b.ranges.push(...r.seqs);
    if (r.path !== undefined && b.paths.size < MAX_PATHS) b.paths.add(r.path);
    const done = new Promise<void>((resolve, reject) => b!.waiters.push({ resolve, reject }));
    this.#kick();
    return done;
  }

  /** Publishes whatever is pending now and waits for it. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    await this.#send();
  }

  #kick(): void {
    if (this.#immediate) return;
    if (this.#inFlight === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        void this.#send();
      });
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        void this.#send();
      }, this.#maxDelayMs);
    }
  }

  async #send(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batches = [...this.#pending.values()];
    this.#pending.clear();
    this.#inFlight++;
    try {
      await Promise.all(batches.map(async (b) => {
        const body: Record<string, unknown> = { host: b.host, state: b.state, seqs: mergeRanges(b.ranges) };
        if (b.reason !== undefined) body.reason = b.reason;
        if (b.paths.size) body.paths = [...b.paths];
        try {
          await this.#publisher.publish(this.#exchange, `progress.${b.host}`, Buffer.from(JSON.stringify(body)));
          this.#published++;
          for (const w of b.waiters) w.resolve();
        } catch (err) {
          this.#log.warn({ err: (err as Error).message, host: b.host }, 'progress report not confirmed');
          for (const w of b.waiters) w.reject(err);
        }
      }));
    } finally {
      this.#inFlight--;
      if (this.#pending.size) this.#kick();
    }
  }
}

/** Sorted, merged, inclusive ranges. */
export function mergeRanges(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const sorted = ranges.map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/**
 * The seqs a message stands for: hpcm_seq plus hpcm_coveredSeqs (the winnow writes ranges
 * `[[lo, hi], ...]`; single numbers are taken too) or else the hpcm_covers range.
 */
export function seqsOf(body: Record<string, unknown>): { host: string; seqs: [number, number][] } | null {
  const host = body.hpcm_host;
  if (typeof host !== 'string' || host === '') return null;
  const seqs: [number, number][] = [];
  const isSeq = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  const isRange = (r: unknown): r is [number, number] => Array.isArray(r) && r.length === 2 && isSeq(r[0]) && isSeq(r[1]) && r[0] <= r[1];
  if (isSeq(body.hpcm_seq)) seqs.push([body.hpcm_seq, body.hpcm_seq]);
  const listed = Array.isArray(body.hpcm_coveredSeqs) ? body.hpcm_coveredSeqs.filter((r) => isSeq(r) || isRange(r)) : [];
  if (listed.length > 0) {
    for (const r of listed) seqs.push(isSeq(r) ? [r, r] : [r[0], r[1]]);
  } else if (isRange(body.hpcm_covers)) {
    seqs.push([body.hpcm_covers[0], body.hpcm_covers[1]]);
  }
  return seqs.length ? { host, seqs: mergeRanges(seqs) } : null;
}
