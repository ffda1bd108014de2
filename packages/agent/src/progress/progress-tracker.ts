import { RangeSet } from '../checkpoint/range-set.js';

/** A report from winnow or subscriber (docs/progress.md). */
export interface ProgressReport {
  host: string;
  state: 'applied' | 'superseded' | 'suppressed' | 'coalesced' | 'parked';
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
  updatedNs: string;
  done: [number, number][];
}

const STATES = new Set(['applied', 'superseded', 'suppressed', 'coalesced', 'parked']);
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
 * suppressed or parked) plus the ranges above it, and the parked ones with their reasons.
 */
export class ProgressTracker {
  readonly #host: string;
  #done = new RangeSet();
  #parked: ParkedSeq[] = [];

  constructor(host: string) {
    this.#host = host;
  }

  get watermark(): number {
    return this.#done.floor;
  }

  get parked(): readonly ParkedSeq[] {
    return this.#parked;
  }

  apply(r: ProgressReport): void {
    for (const [lo, hi] of r.seqs) this.#done.add(lo, hi);
    if (r.state !== 'parked') return;
    let i = 0;
    for (const [lo, hi] of r.seqs) {
      for (let s = lo; s <= hi && i < MAX_PARKED; s++, i++) {
        this.#parked.push({ seq: s, path: r.paths?.[i] ?? r.paths?.[0] ?? '', reason: r.reason ?? '' });
      }
    }
    if (this.#parked.length > MAX_PARKED) this.#parked.splice(0, this.#parked.length - MAX_PARKED);
  }

  toJSON(assigned: number, updatedNs: bigint): ProgressJson {
    return {
      host: this.#host,
      assigned,
      watermark: this.#done.floor,
      parked: this.#parked,
      updatedNs: updatedNs.toString(),
      done: this.#done.ranges,
    };
  }

  load(j: Partial<ProgressJson>): void {
    this.#done = new RangeSet(j.watermark ?? 0, j.done ?? []);
    this.#parked = Array.isArray(j.parked) ? j.parked.slice(-MAX_PARKED) : [];
  }
}
