import { RangeSet } from '../checkpoint/range-set.js';

/**
 * A report from winnow, subscriber or `hpcmirror parked` (docs/progress.md). `retried` is the one
 * state that is not terminal: parked seqs an operator sent back to the flow, pending again.
 */
export interface ProgressReport {
  host: string;
  state: 'applied' | 'superseded' | 'suppressed' | 'coalesced' | 'parked' | 'dropped' | 'retried';
  seqs: [number, number][];
  reason?: string;
  paths?: string[];
}

export interface ParkedSeq {
  seq: number;
  path: string;
  reason: string;
}

/** progress.json (docs/progress.md), plus `done`: terminal ranges above the watermark, to resume from. */
export interface ProgressJson {
  host: string;
  assigned: number;
  watermark: number;
  parked: ParkedSeq[];
  /** Parked seqs sent back to the flow by `hpcmirror parked retry`, not yet terminal again. */
  retrying: ParkedSeq[];
  updatedNs: string;
  done: [number, number][];
}

const STATES = new Set(['applied', 'superseded', 'suppressed', 'coalesced', 'parked', 'dropped', 'retried']);
const MAX_PARKED = 10_000;

/** Parses a report body; undefined (with the reason) when it is not one. */
export function parseProgressReport(body: Buffer): ProgressReport | string {
  let j: unknown;
  try {
    j = JSON.parse(body.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  const r = j as Partial<ProgressReport>;
  if (typeof r !== 'object' || r === null) return 'not an object';
  if (typeof r.host !== 'string') return 'host missing';
  if (typeof r.state !== 'string' || !STATES.has(r.state)) return `unknown state ${String(r.state)}`;
  if (!Array.isArray(r.seqs) || !r.seqs.every((s) => Array.isArray(s) && s.length === 2
    && Number.isSafeInteger(s[0]) && Number.isSafeInteger(s[1]) && s[0] >= 1 && s[1] >= s[0])) {
    return 'seqs must be [[lo, hi], ...] with 1 <= lo <= hi';
  }
  return r as ProgressReport;
}

/**
 * Terminal seqs of one host: the contiguous watermark W (every seq <= W is applied, superseded,
 * suppressed, dropped or parked) plus the ranges above it, the parked ones with their reasons, and
 * the parked ones an operator retried. A seq stays in the done set when it is retried (the
 * watermark never goes back); `wait` counts the `retrying` list as pending instead.
 */
export class ProgressTracker {
  readonly #host: string;
  #done = new RangeSet();
  #parked = new Map<number, ParkedSeq>();
  #retrying = new Map<number, ParkedSeq>();

  constructor(host: string) {
    this.#host = host;
  }

  get watermark(): number {
    return this.#done.floor;
  }

  get parked(): readonly ParkedSeq[] {
    return [...this.#parked.values()];
  }

  get retrying(): readonly ParkedSeq[] {
    return [...this.#retrying.values()];
  }

  apply(r: ProgressReport): void {
    if (r.state === 'retried') {
      this.#each(r, (seq, path) => {
        const p = this.#parked.get(seq);
        this.#parked.delete(seq);
        this.#retrying.set(seq, p ?? { seq, path, reason: r.reason ?? '' });
      });
      this.#cap(this.#retrying);
      return;
    }
    for (const [lo, hi] of r.seqs) this.#done.add(lo, hi);
    if (r.state === 'parked') {
      this.#each(r, (seq, path) => {
        this.#retrying.delete(seq);
        // Re-inserted, so the map stays in parking order and the cap drops the oldest.
        this.#parked.delete(seq);
        this.#parked.set(seq, { seq, path, reason: r.reason ?? '' });
      });
      this.#cap(this.#parked);
      return;
    }
    // Any other terminal state ends a park: a retried message applied, or an operator's drop.
    for (const m of [this.#parked, this.#retrying]) {
      if (m.size === 0) continue;
      for (const seq of m.keys()) if (inRanges(seq, r.seqs)) m.delete(seq);
    }
  }

  /** Each seq of the report (at most MAX_PARKED), with its path when the report names one. */
  #each(r: ProgressReport, fn: (seq: number, path: string) => void): void {
    let i = 0;
    for (const [lo, hi] of r.seqs) {
      for (let s = lo; s <= hi && i < MAX_PARKED; s++, i++) fn(s, r.paths?.[i] ?? r.paths?.[0] ?? '');
    }
  }

  #cap(m: Map<number, ParkedSeq>): void {
    for (const seq of m.keys()) {
      if (m.size <= MAX_PARKED) break;
      m.delete(seq);
    }
  }

  toJSON(assigned: number, updatedNs: bigint): ProgressJson {
    return {
      host: this.#host,
      assigned,
      watermark: this.#done.floor,
      parked: this.parked as ParkedSeq[],
      retrying: this.retrying as ParkedSeq[],
      updatedNs: updatedNs.toString(),
      done: this.#done.ranges,
    };
  }

  load(j: Partial<ProgressJson>): void {
    this.#done = new RangeSet(j.watermark ?? 0, j.done ?? []);
    const byseq = (xs: unknown) => new Map((Array.isArray(xs) ? (xs as ParkedSeq[]).slice(-MAX_PARKED) : []).map((p) => [p.seq, p] as const));
    this.#parked = byseq(j.parked);
    this.#retrying = byseq(j.retrying);
  }
}

function inRanges(n: number, ranges: readonly (readonly [number, number])[]): boolean {
  return ranges.some(([lo, hi]) => n >= lo && n <= hi);
}
