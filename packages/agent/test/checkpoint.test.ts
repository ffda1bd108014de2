import { describe, expect, it } from 'vitest';
import { RangeSet } from '../src/checkpoint/range-set.js';
import { SegmentCheckpoints } from '../src/checkpoint/segment-checkpoints.js';
import { SeqLedger } from '../src/checkpoint/seq-ledger.js';

describe('RangeSet', () => {
  it('keeps a contiguous floor and merges ranges above it', () => {
    const r = new RangeSet();
    r.add(3, 4);
    r.add(7);
    expect(r.floor).toBe(0);
    expect(r.ranges).toEqual([[3, 4], [7, 7]]);
    r.add(5, 6);
    expect(r.ranges).toEqual([[3, 7]]);
    r.add(1, 2);
    expect(r.floor).toBe(7);
    expect(r.ranges).toEqual([]);
    r.add(2, 9);
    expect(r.floor).toBe(9);
    expect(r.has(9)).toBe(true);
    expect(r.has(10)).toBe(false);
  });
});

describe('SegmentCheckpoints', () => {
  it('moves only over a prefix of fully confirmed units', () => {
    const moves: number[] = [];
    const c = new SegmentCheckpoints((_s, at) => moves.push(at));
    c.track('s', 0);
    const u1 = c.begin('s', 100);
    u1.hold();
    u1.release();
    const u2 = c.begin('s', 200);
    u2.release();
    expect(c.checkpoint('s')).toBe(0); // u1 still has one announcement in flight
    u1.release();
    expect(c.checkpoint('s')).toBe(200);
    expect(moves).toEqual([200]);
    expect(c.busy('s')).toBe(false);
  });
});

describe('SeqLedger', () => {
  it('numbers without gaps and tracks confirms in any order', () => {
    const l = new SeqLedger();
    expect([l.next(), l.next(), l.next()]).toEqual([1, 2, 3]);
    l.confirm(2);
    expect(l.confirmedBelow).toBe(0);
    l.confirm(1);
    expect(l.confirmedBelow).toBe(2);
    const m = new SeqLedger();
    m.load(l.toJSON());
    m.raiseAssigned(7);
    expect(m.next()).toBe(8);
    expect(m.isConfirmed(2)).toBe(true);
    expect(m.isConfirmed(3)).toBe(false);
  });
});
