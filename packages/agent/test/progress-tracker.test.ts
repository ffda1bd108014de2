import { describe, expect, it } from 'vitest';
import { parseProgressReport, ProgressTracker } from '../src/progress/progress-tracker.js';

describe('progress tracker: parked, retried, dropped', () => {
  it('a parked seq is terminal; retried it is pending again (watermark kept); applied it leaves both lists', () => {
    const t = new ProgressTracker('h1');
    t.apply({ host: 'h1', state: 'applied', seqs: [[1, 2], [4, 5]] });
    t.apply({ host: 'h1', state: 'parked', seqs: [[3, 3]], reason: 'HPM_PATH_UNSAFE: x', paths: ['fs/a/d/f'] });
    expect(t.watermark).toBe(5);
    expect(t.parked).toEqual([{ seq: 3, path: 'fs/a/d/f', reason: 'HPM_PATH_UNSAFE: x' }]);
    t.apply({ host: 'h1', state: 'retried', seqs: [[3, 3]], reason: 'retried by the operator', paths: ['fs/a/d/f'] });
    expect(t.parked).toEqual([]);
    expect(t.retrying).toEqual([{ seq: 3, path: 'fs/a/d/f', reason: 'HPM_PATH_UNSAFE: x' }]);
    expect(t.watermark).toBe(5);
    t.apply({ host: 'h1', state: 'applied', seqs: [[2, 3]] });
    expect(t.retrying).toEqual([]);
    expect(t.parked).toEqual([]);
  });

  it('parked again after a retry goes back to parked, once; dropped ends it and survives a reload', () => {
    const t = new ProgressTracker('h1');
    t.apply({ host: 'h1', state: 'parked', seqs: [[1, 2]], reason: 'r1', paths: ['a', 'b'] });
    t.apply({ host: 'h1', state: 'retried', seqs: [[1, 2]], paths: ['a', 'b'] });
    t.apply({ host: 'h1', state: 'parked', seqs: [[1, 1]], reason: 'r2', paths: ['a'] });
    expect(t.parked).toEqual([{ seq: 1, path: 'a', reason: 'r2' }]);
    expect(t.retrying.map((p) => p.seq)).toEqual([2]);
    const saved = JSON.parse(JSON.stringify(t.toJSON(2, 1n)));
    const u = new ProgressTracker('h1');
    u.load(saved);
    expect(u.parked.map((p) => p.seq)).toEqual([1]);
    expect(u.retrying.map((p) => p.seq)).toEqual([2]);
    u.apply({ host: 'h1', state: 'dropped', seqs: [[1, 2]], reason: 'dropped by the operator' });
    expect(u.parked).toEqual([]);
    expect(u.retrying).toEqual([]);
    expect(u.watermark).toBe(2);
  });

  it('accepts the operator states in reports', () => {
    for (const state of ['dropped', 'retried']) {
      expect(parseProgressReport(Buffer.from(JSON.stringify({ host: 'h', state, seqs: [[1, 1]] })))).toMatchObject({ state });
    }
    expect(parseProgressReport(Buffer.from(JSON.stringify({ host: 'h', state: 'lost', seqs: [[1, 1]] })))).toMatch(/unknown state/);
  });
});
