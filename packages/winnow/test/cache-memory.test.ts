import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { pathKeyOf } from '../src/change-key.js';
import { Winnower, type Change } from '../src/winnower.js';
import { FakeClock } from './helpers/fake-clock.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heap = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

describe('per-path state memory', () => {
  it('stays within cache_max for 1,000,000 distinct paths, and the heap stops growing once the cache is full', () => {
    const max = 100_000;
    const clock = new FakeClock();
    const w = new Winnower<number>({ cacheMax: max, cacheTtlMs: 3_600_000, windowMs: 1000, maxHeld: 1000, clock });
    const buf = Buffer.alloc(256);
    const feed = (from: number, to: number): void => {
      for (let i = from; i < to; i++) {
        const n = buf.write(`/fs/primary/project/run${i % 977}/output-${i}.nc`);
        const pathKey = pathKeyOf(buf.subarray(0, n));
        const c: Change<number> = { payload: i, pathKey, pathCheck: pathKey, changeKey: pathKey + 1, content: true, clears: false, host: 'h', seqs: [i, i] };
        for (const d of w.receive(c)) if (d.type === 'forward') w.confirmed(d.forward);
        if ((i & 1023) === 0) clock.advance(1);
      }
    };
    const empty = heap();
    feed(0, max);
    const full = heap();
    feed(max, 3 * max);
    const settled = heap();
    feed(3 * max, 1_000_000);
    const after = heap();
    expect(w.cache.size).toBeLessThanOrEqual(max);
    expect(w.cache.evictions).toBe(1_000_000 - max);
    expect(w.inflight).toBe(0);
    expect(w.held).toBe(0);
    // Steady state: once evictions start, the key map settles at its final capacity (one doubling).
    const perPath = (settled - empty) / max;
    expect(full - empty).toBeGreaterThan(0);
    expect(perPath).toBeLessThan(200);
    expect(after - settled).toBeLessThan(2 ** 20);
  }, 300_000); // CPU-bound: about 12 s on an idle 2-core machine, over 70 s when it is shared
});
