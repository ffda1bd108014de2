import { describe, expect, it } from 'vitest';
import type { FileStat } from '../src/changes/file-stat.js';
import { DirtySet } from '../src/dirty/dirty-set.js';
import { b } from './helpers.js';

const st = (size: number, mtimeNs = 5n): FileStat => ({ size: BigInt(size), mtimeNs, ctimeNs: mtimeNs, ino: 1n, mode: 0o100644 });

describe('DirtySet.sweep', () => {
  it('announces a file whose writer vanished without EXIT (SIGKILL)', async () => {
    const d = new DirtySet();
    d.open('h', 100, b('/r/a'), 1n, 0);
    d.open('h', 101, b('/r/b'), 1n, 0);
    const done = await d.sweep({ nowMs: 10, nowNs: 99n, quietMs: 60_000, stat: async () => st(1), isAlive: (_h, pid) => pid !== 100 });
    expect(done.map((c) => [c.path.toString(), c.reason])).toEqual([['/r/a', 'gone']]);
    expect(d.size).toBe(1);
  });

  it('announces a file open and unchanged for quietMs once, again only after it changed', async () => {
    const d = new DirtySet();
    let cur = st(1, 10n);
    const sweep = (nowMs: number) => d.sweep({ nowMs, nowNs: 0n, quietMs: 1000, stat: async () => cur, isAlive: () => undefined });
    d.open('other-host', 5, b('/r/mmap'), 1n, 0);
    expect(await sweep(500)).toEqual([]);
    const first = await sweep(1000);
    expect(first).toMatchObject([{ reason: 'quiet', stat: { size: 1n } }]);
    expect(await sweep(5000)).toEqual([]);
    cur = st(2, 20n);
    expect(await sweep(5500)).toEqual([]); // changed: quiet period starts over
    expect(await sweep(6600)).toMatchObject([{ reason: 'quiet', stat: { size: 2n } }]);
    expect(d.size).toBe(1); // still open by a writer we cannot see
  });

  it('forgets a file that is gone for the quiet period (its unlink/rename was announced)', async () => {
    const d = new DirtySet();
    d.open('x', 5, b('/r/a'), 1n, 0);
    expect(await d.sweep({ nowMs: 2000, nowNs: 0n, quietMs: 1000, stat: async () => undefined, isAlive: () => undefined })).toEqual([]);
    expect(d.size).toBe(0);
  });

  it('round-trips through JSON; an entry saved without writers is announced at the next sweep', async () => {
    const d = new DirtySet();
    d.open('h', 1, Buffer.from([0x2f, 0xff, 0x25]), 3n, 0);
    const e = new DirtySet();
    e.load([...d.toJSON(), { path: '/r/limbo', holders: [], lastEventNs: '7', changed: true }], 0);
    expect(e.has(Buffer.from([0x2f, 0xff, 0x25]))).toBe(true);
    const done = await e.sweep({ nowMs: 1, nowNs: 0n, quietMs: 60_000, stat: async () => st(1), isAlive: () => true });
    expect(done.map((c) => c.path.toString())).toEqual(['/r/limbo']);
  });
});
