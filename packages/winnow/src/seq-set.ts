/**
 * Sets of source sequence numbers as sorted, disjoint, non-adjacent ranges, flattened
 * ([lo1, hi1, lo2, hi2, ...]): a coalesced burst of one path is usually one range, and
 * interleaved bursts stay a few ranges (docs/progress.md "coalesced").
 */
export type SeqSet = readonly number[];

export const EMPTY_SEQS: SeqSet = [];

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The seqs one received message stands for: hpcm_coveredSeqs, else hpcm_covers, else hpcm_seq. */
export function seqsOfBody(body: Record<string, unknown>): SeqSet {
  const listed = body.hpcm_coveredSeqs;
  if (Array.isArray(listed) && listed.length > 0) {
    let out: SeqSet = EMPTY_SEQS;
    for (const r of listed) {
      if (Array.isArray(r) && r.length === 2 && isSeq(r[0]) && isSeq(r[1]) && r[0] <= r[1]) out = mergeSeqs(out, [r[0], r[1]]);
      else if (isSeq(r)) out = mergeSeqs(out, [r, r]);
    }
    if (out.length > 0) return out;
  }
  const covers = body.hpcm_covers;
  if (Array.isArray(covers) && covers.length === 2 && isSeq(covers[0]) && isSeq(covers[1]) && covers[0] <= covers[1]) {
    return [covers[0], covers[1]];
  }
  const seq = body.hpcm_seq;
  return isSeq(seq) ? [seq, seq] : EMPTY_SEQS;
}

export function mergeSeqs(a: SeqSet, b: SeqSet): SeqSet {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  // The usual case: a newer seq of one host, at or past the end.
  if (b.length === 2 && b[0]! > a[a.length - 1]! + 1) return [...a, b[0]!, b[1]!];
  if (b.length === 2 && b[0]! >= a[a.length - 2]! && b[0]! <= a[a.length - 1]! + 1) {
    if (b[1]! <= a[a.length - 1]!) return a;
    const out = a.slice();
    out[out.length - 1] = b[1]!;
    return out;
  }
  const ranges: [number, number][] = [];
  for (let i = 0; i < a.length; i += 2) ranges.push([a[i]!, a[i + 1]!]);
  for (let i = 0; i < b.length; i += 2) ranges.push([b[i]!, b[i + 1]!]);
  ranges.sort((x, y) => x[0] - y[0]);
  const out: number[] = [];
  for (const [lo, hi] of ranges) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

export function seqCount(s: SeqSet): number {
  let n = 0;
  for (let i = 0; i < s.length; i += 2) n += s[i + 1]! - s[i]! + 1;
  return n;
}

/** [lowest, highest]: the `hpcm_covers` value. */
export function coversOf(s: SeqSet): [number, number] | undefined {
  return s.length === 0 ? undefined : [s[0]!, s[s.length - 1]!];
}

/** [[lo, hi], ...]: the `hpcm_coveredSeqs` value (and the `seqs` of a progress report). */
export function rangesOf(s: SeqSet): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < s.length; i += 2) out.push([s[i]!, s[i + 1]!]);
  return out;
}
