import { describe, expect, it } from 'vitest';
import { coversOf, mergeSeqs, rangesOf, seqCount, seqsOfBody } from '../src/seq-set.js';

describe('seq sets', () => {
  it('merge into sorted, joined ranges', () => {
    let s = mergeSeqs([], [5, 5]);
    s = mergeSeqs(s, [7, 7]);
    s = mergeSeqs(s, [6, 6]);
    s = mergeSeqs(s, [1, 2]);
    s = mergeSeqs(s, [5, 5]);
    expect(s).toEqual([1, 2, 5, 7]);
    expect(coversOf(s)).toEqual([1, 7]);
    expect(rangesOf(s)).toEqual([[1, 2], [5, 7]]);
    expect(seqCount(s)).toBe(5);
    expect(mergeSeqs([1, 3], [4, 9])).toEqual([1, 9]);
  });

  it('come from hpcm_coveredSeqs, hpcm_covers or hpcm_seq, in that order', () => {
    expect(seqsOfBody({ hpcm_seq: 9 })).toEqual([9, 9]);
    expect(seqsOfBody({ hpcm_seq: 9, hpcm_covers: [3, 9] })).toEqual([3, 9]);
    expect(seqsOfBody({ hpcm_seq: 9, hpcm_covers: [3, 9], hpcm_coveredSeqs: [[3, 3], [9, 9]] })).toEqual([3, 3, 9, 9]);
    expect(seqsOfBody({})).toEqual([]);
    expect(seqsOfBody({ hpcm_seq: '9' })).toEqual([]);
    expect(seqsOfBody({ hpcm_seq: -1 })).toEqual([]);
  });
});

describe('seq sets, merged in any order', () => {
  it('agree with a plain set', () => {
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let round = 0; round < 200; round++) {
      let s: readonly number[] = [];
      const want = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const lo = rnd(60);
        const hi = lo + rnd(4);
        for (let k = lo; k <= hi; k++) want.add(k);
        s = mergeSeqs(s, [lo, hi]);
      }
      const got: number[] = [];
      for (let i = 0; i < s.length; i += 2) {
        expect(s[i]!).toBeLessThanOrEqual(s[i + 1]!);
        if (i > 0) expect(s[i]!).toBeGreaterThan(s[i - 1]! + 1);
        for (let k = s[i]!; k <= s[i + 1]!; k++) got.push(k);
      }
      expect(got).toEqual([...want].sort((x, y) => x - y));
    }
  });
});
