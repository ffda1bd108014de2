import { RangeSet } from './range-set.js';

export interface SeqLedgerJson {
  /** Highest hpcm_seq handed out (every number up to it belongs to exactly one message). */
  assigned: number;
  /** Every seq <= this is confirmed by the broker. */
  confirmedBelow: number;
  /** Confirmed seqs above confirmedBelow. */
  confirmedAbove: [number, number][];
}

/** hpcm_seq of one host: gapless, in spool order, never reused (the outbox journal keeps each number's message). */
export class SeqLedger {
  #assigned = 0;
  #confirmed = new RangeSet();

  get assigned(): number {
    return this.#assigned;
  }

  get confirmedBelow(): number {
    return this.#confirmed.floor;
  }

  next(): number {
    this.#assigned += 1;
    return this.#assigned;
  }

  confirm(seq: number): void {
    this.#confirmed.add(seq);
  }

  isConfirmed(seq: number): boolean {
    return this.#confirmed.has(seq);
  }

  /** Numbers the journal shows were handed out by an earlier run. */
  raiseAssigned(n: number): void {
    if (n > this.#assigned) this.#assigned = n;
  }

  toJSON(): SeqLedgerJson {
    return { assigned: this.#assigned, confirmedBelow: this.#confirmed.floor, confirmedAbove: this.#confirmed.ranges };
  }

  load(j: SeqLedgerJson): void {
    this.#assigned = j.assigned;
    this.#confirmed = new RangeSet(j.confirmedBelow, j.confirmedAbove);
  }
}
