/** A set of positive integers kept as a contiguous prefix 1..floor plus sorted disjoint ranges above it. */
export class RangeSet {
  #floor: number;
  /** Sorted, disjoint, non-adjacent, all > floor + 1. */
  #ranges: [number, number][] = [];

  constructor(floor = 0, ranges: readonly (readonly [number, number])[] = []) {
    this.#floor = floor;
    for (const [lo, hi] of ranges) this.add(lo, hi);
  }

  /** Every n <= floor is in the set. */
  get floor(): number {
    return this.#floor;
  }

  /** Ranges above floor (copies). */
  get ranges(): [number, number][] {
    return this.#ranges.map(([lo, hi]) => [lo, hi]);
  }

  has(n: number): boolean {
    if (n <= this.#floor) return true;
    return this.#ranges.some(([lo, hi]) => n >= lo && n <= hi);
  }

  add(lo: number, hi = lo): void {
    if (hi < lo || hi <= this.#floor) return;
    lo = Math.max(lo, this.#floor + 1);
    const out: [number, number][] = [];
    let placed = false;
    for (const r of this.#ranges) {
      if (r[1] + 1 < lo) out.push(r);
      else if (hi + 1 < r[0]) {
        if (!placed) { out.push([lo, hi]); placed = true; }
        out.push(r);
      } else {
        lo = Math.min(lo, r[0]);
        hi = Math.max(hi, r[1]);
      }
    }
    if (!placed) out.push([lo, hi]);
    out.sort((a, b) => a[0] - b[0]);
    this.#ranges = out;
    while (this.#ranges.length && this.#ranges[0]![0] === this.#floor + 1) {
      this.#floor = this.#ranges.shift()![1];
    }
  }
}
