import { describe, expect, it } from 'vitest';
import { PathLocks } from '../src/path-locks.js';

describe('PathLocks', () => {
  it('serialises one path, runs different paths concurrently', async () => {
    const locks = new PathLocks();
    const log: string[] = [];
    const job = (key: string, tag: string, ms: number) => locks.withLocks([key], async () => {
      log.push(`${tag}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${tag}-`);
    });
    await Promise.all([job('a', 'a1', 20), job('a', 'a2', 1), job('b', 'b1', 5)]);
    expect(log.indexOf('a1-')).toBeLessThan(log.indexOf('a2+'));
    expect(log.indexOf('b1+')).toBeLessThan(log.indexOf('a1-'));
    expect(locks.held).toBe(0);
  });

  it('takes several keys in a fixed order, so crossing multi-key holders cannot deadlock', async () => {
    const locks = new PathLocks();
    const slow = () => new Promise((r) => setTimeout(r, 5));
    await Promise.all([locks.withLocks(['x', 'y'], slow), locks.withLocks(['y', 'x'], slow), locks.withLocks(['x'], slow)]);
    expect(locks.held).toBe(0);
  });

  it('tells a waiter that a reconcile which read the source after its arrival already covered it', async () => {
    const locks = new PathLocks();
    let release!: () => void;
    const holder = locks.withLocks(['p'], () => new Promise<void>((r) => { release = r; }));
    const arrival = locks.tick();
    const waiter = locks.withLocks(['p'], async () => locks.reconciledAfter('p', arrival));
    await new Promise((r) => setTimeout(r, 1));
    locks.noteReconciled('p', locks.tick());
    release();
    await holder;
    expect(await waiter).toBe(true);
    expect(await locks.tryWithLock('p', async () => 'free')).toBe('free');
  });
});
