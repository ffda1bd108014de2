import { describe, expect, it } from 'vitest';
import { PathLocks, TreeLockNeeded } from '../src/path-locks.js';

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

  it('holds a path\'s directories: a directory moved (tree) waits for work below it, and later work below waits for the move', async () => {
    const locks = new PathLocks('/r');
    const log: string[] = [];
    const tick = () => new Promise((r) => setTimeout(r, 1));
    let release!: () => void;
    const write = locks.withLocks(['/r/d2/s/f1'], async () => {
      log.push('write+');
      await new Promise<void>((r) => { release = r; });
      log.push('write-');
    });
    await tick();
    const mv = locks.withLocks(['/r/d2', '/r/d3'], async () => { log.push('mv'); }, 'tree');
    await tick();
    const later = locks.withLocks(['/r/d2/x'], async () => { log.push('later'); });
    // Elsewhere, nothing waits.
    await locks.withLocks(['/r/d4/f0'], async () => { log.push('elsewhere'); });
    expect(log).toEqual(['write+', 'elsewhere']);
    release();
    await Promise.all([write, mv, later]);
    expect(log).toEqual(['write+', 'elsewhere', 'write-', 'mv', 'later']);
    expect(locks.held).toBe(0);
    expect(locks.entries).toBe(0);
  });

  it('lets a directory\'s own entry (attributes) change while work goes on below it, one holder at a time', async () => {
    const locks = new PathLocks('/r/');
    let inside = 0;
    let most = 0;
    const job = (key: string) => locks.withLocks([key], async () => {
      most = Math.max(most, ++inside);
      await new Promise((r) => setTimeout(r, 5));
      inside--;
    });
    await Promise.all([job('/r/d'), job('/r/d/f'), job('/r/d/g')]);
    expect(most).toBe(3);
    const order: string[] = [];
    await Promise.all([
      locks.withLocks(['/r/d'], async () => { order.push('a+'); await new Promise((r) => setTimeout(r, 5)); order.push('a-'); }),
      locks.withLocks(['/r/d'], async () => { order.push('b+'); }),
    ]);
    expect(order).toEqual(['a+', 'a-', 'b+']);
  });

  it('never locks the root or what is above it, and tryWithLock gives up rather than wait behind a queued tree lock', async () => {
    const locks = new PathLocks('/r');
    await locks.withLocks(['/r'], async () => {
      expect(await locks.tryWithLock('/r/f', async () => 'free')).toBe('free');
    }, 'tree');
    let release!: () => void;
    const below = locks.withLocks(['/r/d/f'], () => new Promise<void>((r) => { release = r; }));
    await new Promise((r) => setTimeout(r, 1));
    const mv = locks.withLocks(['/r/d'], async () => 'moved', 'tree');
    expect(await locks.tryWithLock('/r/d/g', async () => 'ran')).toBeUndefined();
    release();
    await below;
    expect(await mv).toBe('moved');
    expect(locks.entries).toBe(0);
  });

  it('runs work again holding the whole subtree when it finds it needs it, and only then', async () => {
    const locks = new PathLocks('/r');
    const seen: boolean[] = [];
    const result = await locks.withLocksEscalating(['/r/d'], async (treeLocked) => {
      seen.push(treeLocked);
      if (!treeLocked) throw new TreeLockNeeded('/r/d');
      return 'removed';
    });
    expect(result).toBe('removed');
    expect(seen).toEqual([false, true]);
    await expect(locks.withLocksEscalating(['/r/d'], async () => { throw new Error('other'); })).rejects.toThrow('other');
    await expect(locks.withLocksEscalating(['/r/d'], async () => { throw new TreeLockNeeded('/r/d'); }, 'tree')).rejects.toBeInstanceOf(TreeLockNeeded);
    expect(locks.entries).toBe(0);
  });
});
