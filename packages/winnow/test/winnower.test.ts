import { describe, expect, it } from 'vitest';
import { changeOf } from '../src/announcement-change.js';
import { MAX_COVERED_RANGES, Winnower, type Change, type Decision, type Forward } from '../src/winnower.js';
import { FakeClock } from './helpers/fake-clock.js';
import { announce, type FileStat } from './helpers/messages.js';

type Msg = { name: string };

function setup(opts: { windowMs?: number; maxHeld?: number; cacheMax?: number; cacheTtlMs?: number } = {}) {
  const clock = new FakeClock();
  const w = new Winnower<Msg>({ cacheMax: opts.cacheMax ?? 1000, cacheTtlMs: opts.cacheTtlMs ?? 3_600_000, windowMs: opts.windowMs ?? 1000, maxHeld: opts.maxHeld ?? 10_000, clock });
  let seq = 0;
  const send = (name: string, path: string, facts: Parameters<typeof announce>[1] = {}): Decision<Msg>[] =>
    w.receive(changeOf(announce(path, { seq: ++seq, ...facts }), { name }));
  return { clock, w, send };
}

const forwards = (ds: Decision<Msg>[]): Forward<Msg>[] => ds.flatMap((d) => (d.type === 'forward' ? [d.forward] : []));
const names = (f: Forward<Msg>): string[] => f.payloads.map((p) => p.name);
const file = (n: number, extra: FileStat = {}): FileStat => ({ size: 100, mtimeNs: BigInt(n) * 1000n, ctimeNs: BigInt(n) * 1000n + 1n, ino: 7n, ...extra });

describe('Winnower: duplicates', () => {
  it('suppresses a message whose key equals the last forward of its path', () => {
    const { w, send } = setup();
    const [first] = forwards(send('a1', 'fs/p/a', { stat: file(1) }));
    expect(first?.cause).toBe('leading');
    const dup = send('a1-again', 'fs/p/a', { stat: file(1) });
    expect(dup).toEqual([{ type: 'suppress', change: expect.anything(), after: first }]);
    w.confirmed(first!);
    const dup2 = send('a1-third', 'fs/p/a', { stat: file(1) });
    expect(dup2[0]).toMatchObject({ type: 'suppress', after: undefined });
    expect(w.suppressed).toBe(2);
  });

  it('never suppresses the same key on another path', () => {
    const { send } = setup();
    expect(forwards(send('a', 'fs/p/a', { stat: file(1) }))).toHaveLength(1);
    expect(forwards(send('b', 'fs/p/b', { stat: file(1) }))).toHaveLength(1);
  });

  it('passes an ln -sf re-pointing a link', () => {
    const { send } = setup({ windowMs: 0 });
    expect(forwards(send('l1', 'fs/p/latest', { kind: 'symlink', linkTarget: 'run1' }))).toHaveLength(1);
    expect(forwards(send('l2', 'fs/p/latest', { kind: 'symlink', linkTarget: 'run2' }))).toHaveLength(1);
    expect(send('l2-dup', 'fs/p/latest', { kind: 'symlink', linkTarget: 'run2' })[0]?.type).toBe('suppress');
  });

  it('passes a re-create with an old mtime (cp -p, tar -x)', () => {
    const { clock, send } = setup();
    expect(forwards(send('orig', 'fs/p/a', { stat: file(1) }))).toHaveLength(1);
    clock.advance(5000);
    expect(forwards(send('copy', 'fs/p/a', { stat: file(1, { ctimeNs: 999_999n, ino: 8n }) }))).toHaveLength(1);
  });

  it('never loses A -> B -> A, with or without a window', () => {
    const A = { identity: { method: 'sha512', value: 'AAAA' }, stat: file(1) };
    const B = { identity: { method: 'sha512', value: 'BBBB' }, stat: file(1) };
    const noWindow = setup({ windowMs: 0 });
    for (const [n, m] of [['A', A], ['B', B], ['A2', A]] as const) expect(forwards(noWindow.send(n, 'fs/p/a', m)).map(names)).toEqual([[n]]);

    const { clock, w, send } = setup();
    expect(forwards(send('A', 'fs/p/a', A))).toHaveLength(1);
    expect(send('B', 'fs/p/a', B)).toEqual([]);
    expect(send('A2', 'fs/p/a', A)).toEqual([]);
    clock.advance(1000);
    const trailing = forwards(w.due());
    // the trailing A equals the leading one, yet B was seen in between: it must go out
    expect(trailing.map(names)).toEqual([['B', 'A2']]);
    expect(trailing[0]?.change.payload.name).toBe('A2');
  });

  it('forgets a path after its TTL and when the cache evicts it', () => {
    const { clock, w, send } = setup({ cacheMax: 2, cacheTtlMs: 60_000, windowMs: 0 });
    send('a', 'fs/p/a', { stat: file(1) });
    clock.advance(60_001);
    expect(forwards(send('a-late', 'fs/p/a', { stat: file(1) }))).toHaveLength(1);
    send('b', 'fs/p/b', { stat: file(1) });
    send('c', 'fs/p/c', { stat: file(1) });
    expect(w.cache.size).toBe(2);
    expect(w.cache.evictions).toBe(1);
    expect(forwards(send('a-evicted', 'fs/p/a', { stat: file(1) }))).toHaveLength(1);
  });

  it('never suppresses a message without anything to compare on', () => {
    const { send } = setup({ windowMs: 0 });
    expect(forwards(send('x', 'fs/p/a'))).toHaveLength(1);
    expect(forwards(send('y', 'fs/p/a'))).toHaveLength(1);
  });

  it('forgets a forward that was not confirmed, so its redelivery is not taken for a duplicate', () => {
    const { w, send } = setup();
    const [f] = forwards(send('a', 'fs/p/a', { stat: file(1) }));
    w.failed(f!);
    expect(forwards(send('a-redelivered', 'fs/p/a', { stat: file(1) }))).toHaveLength(1);
  });
});

describe('Winnower: coalescing', () => {
  it('forwards the first change at once and only the newest of a burst when the window closes', () => {
    const { clock, w, send } = setup();
    const all: Forward<Msg>[] = [];
    for (let i = 1; i <= 1000; i++) {
      all.push(...forwards(send(`v${i}`, 'fs/p/hot', { stat: file(i) })));
      clock.advance(0.5);
    }
    expect(all.map((f) => f.change.payload.name)).toEqual(['v1']);
    expect(w.held).toBe(999);
    expect(w.nextDeadline()).toBe(1_000_000 + 1000);
    clock.advance(1000 - 500);
    const trailing = forwards(w.due());
    expect(trailing).toHaveLength(1);
    expect(trailing[0]?.change.payload.name).toBe('v1000');
    expect(trailing[0]?.seqs).toEqual([2, 1000]);
    expect(trailing[0]?.payloads).toHaveLength(999);
    expect(w.held).toBe(0);
    expect(w.coalesced).toBe(998);
  });

  it('keeps windows going while a path keeps changing: one forward per window', () => {
    const { clock, w, send } = setup();
    const out: Forward<Msg>[] = [];
    for (let i = 1; i <= 50; i++) {
      out.push(...forwards(send(`v${i}`, 'fs/p/a', { stat: file(i) })));
      clock.advance(100);
      out.push(...forwards(w.due()));
    }
    clock.advance(1000);
    out.push(...forwards(w.due()));
    expect(out.length).toBeGreaterThanOrEqual(5);
    expect(out.length).toBeLessThanOrEqual(7);
    expect(out.at(-1)?.change.payload.name).toBe('v50');
  });

  it('ends the window early on a remove: the held change first, then the remove; the next change is a leading edge', () => {
    const { w, send } = setup();
    send('v1', 'fs/p/a', { stat: file(1) });
    expect(send('v2', 'fs/p/a', { stat: file(2) })).toEqual([]);
    const out = forwards(send('rm', 'fs/p/a', { kind: 'remove' }));
    expect(out.map((f) => [f.cause, f.change.payload.name])).toEqual([['early', 'v2'], ['immediate', 'rm']]);
    expect(w.held).toBe(0);
    expect(forwards(send('v3', 'fs/p/a', { stat: file(1) })).map((f) => f.cause)).toEqual(['leading']);
  });

  it('ends the window early on a rename onto the path, and clears the old path too', () => {
    const { send } = setup();
    send('t1', 'fs/p/a.tmp', { stat: file(1) });
    send('b1', 'fs/p/b', { stat: file(1) });
    send('b2', 'fs/p/b', { stat: file(2) });
    const out = forwards(send('mv', 'fs/p/b', { kind: 'rename', oldPath: 'fs/p/a.tmp' }));
    expect(out.map((f) => f.change.payload.name)).toEqual(['b2', 'mv']);
    // a.tmp was forgotten: the same announcement again is not a duplicate
    expect(forwards(send('t1-again', 'fs/p/a.tmp', { stat: file(1) }))).toHaveLength(1);
  });

  it('forgets the paths below a renamed directory: a new link there with the old one\'s key is not a duplicate', () => {
    const { send } = setup({ windowMs: 0 });
    const link = { kind: 'symlink' as const, linkTarget: 'f0', stat: { size: 2, mtimeNs: 5000n, ctimeNs: 5000n, ino: 9n, mode: 0o120777 } };
    expect(forwards(send('ln', 'fs/p/d1/l1', link))).toHaveLength(1);
    expect(forwards(send('mv', 'fs/p/d3', { kind: 'rename', oldPath: 'fs/p/d1', isDirectory: true }))).toHaveLength(1);
    // rm d3/l1; mkdir d1; ln -s f0 d1/l1 in the same clock tick, on the freed inode: the same key.
    expect(forwards(send('rm', 'fs/p/d3/l1', { kind: 'remove' }))).toHaveLength(1);
    expect(forwards(send('mkdir', 'fs/p/d1', { kind: 'mkdir', isDirectory: true }))).toHaveLength(1);
    expect(forwards(send('ln-again', 'fs/p/d1/l1', link))).toHaveLength(1);
    // A plain file rename still forgets only its two paths.
    send('f', 'fs/p/d1/f0', { stat: file(1) });
    send('mvf', 'fs/p/d1/f9', { kind: 'rename', oldPath: 'fs/p/d1/f8' });
    expect(send('f-again', 'fs/p/d1/f0', { stat: file(1) })[0]?.type).toBe('suppress');
  });

  it('never suppresses the directories of a RENAME_EXCHANGE (hpcm_subtree), and forgets what was below them', () => {
    const { send } = setup({ windowMs: 0 });
    const dir = { kind: 'mkdir' as const, stat: { size: 4096, mtimeNs: 5000n, ctimeNs: 5000n, ino: 3n, mode: 0o40755 } };
    expect(forwards(send('mkdir', 'fs/p/d0', dir))).toHaveLength(1);
    send('f', 'fs/p/d0/s/f0', { stat: file(1) });
    // exchange d0 d1; ...; exchange d0 d1 seen by an agent that stats late: the same key as the mkdir.
    expect(forwards(send('swapped', 'fs/p/d0', { ...dir, subtree: true }))).toHaveLength(1);
    expect(forwards(send('swapped-again', 'fs/p/d0', { ...dir, subtree: true }))).toHaveLength(1);
    expect(forwards(send('f-again', 'fs/p/d0/s/f0', { stat: file(1) }))).toHaveLength(1);
  });

  it('sends a non-content change at once, after the held change of its path', () => {
    const { send } = setup();
    send('v1', 'fs/p/a', { stat: file(1) });
    send('v2', 'fs/p/a', { stat: file(2) });
    const out = forwards(send('ln', 'fs/p/a', { kind: 'symlink', linkTarget: 'x' }));
    expect(out.map((f) => f.change.payload.name)).toEqual(['v2', 'ln']);
  });

  it('does not hold when the window is 0', () => {
    const { send } = setup({ windowMs: 0 });
    for (let i = 1; i <= 5; i++) expect(forwards(send(`v${i}`, 'fs/p/a', { stat: file(i) }))).toHaveLength(1);
  });

  it('suppresses a duplicate of the last forward while nothing is held', () => {
    const { w, send } = setup();
    send('v1', 'fs/p/a', { stat: file(1) });
    expect(send('v1-dup', 'fs/p/a', { stat: file(1) })[0]?.type).toBe('suppress');
    expect(w.held).toBe(0);
  });

  it('closes the oldest windows early when too many messages are held', () => {
    const { clock, w, send } = setup({ maxHeld: 10 });
    const out: Forward<Msg>[] = [];
    for (let i = 1; i <= 100; i++) out.push(...forwards(send(`v${i}`, 'fs/p/a', { stat: file(i) })));
    expect(w.held).toBeLessThan(10);
    clock.advance(1000);
    out.push(...forwards(w.due()));
    expect(out.reduce((n, f) => n + f.payloads.length, 0)).toBe(100);
    expect(out.length).toBeLessThanOrEqual(13);
    expect(out.at(-1)?.change.payload.name).toBe('v100');
  });

  it('never merges the seqs of two hosts into one forward', () => {
    const { send } = setup();
    send('h1-1', 'fs/p/a', { stat: file(1), host: 'h1' });
    send('h1-2', 'fs/p/a', { stat: file(2), host: 'h1' });
    const out = forwards(send('h2-1', 'fs/p/a', { stat: file(3), host: 'h2' }));
    expect(out.map((f) => [f.cause, f.change.payload.name])).toEqual([['early', 'h1-2']]);
  });

  it('covers non-contiguous seqs exactly', () => {
    const { clock, w } = setup();
    const mk = (seq: number, n: number) => changeOf(announce('fs/p/a', { seq, stat: file(n) }), { name: String(seq) });
    w.receive(mk(1, 1));
    w.receive(mk(5, 2));
    w.receive(mk(9, 3));
    w.receive(mk(10, 4));
    clock.advance(1000);
    expect(forwards(w.due())[0]?.seqs).toEqual([5, 5, 9, 10]);
  });

  it('closes a window early before its covered seqs get too scattered to list', () => {
    const { w } = setup();
    const mk = (seq: number) => changeOf(announce('fs/p/a', { seq, stat: file(seq) }), { name: String(seq) });
    const out: Forward<Msg>[] = [];
    for (let i = 0; i <= MAX_COVERED_RANGES + 2; i++) out.push(...forwards(w.receive(mk(2 * i + 1))));
    expect(out.map((f) => f.cause)).toEqual(['leading', 'early']);
    expect(out[1]!.seqs.length).toBe(2 * MAX_COVERED_RANGES);
    expect(w.held).toBe(2);
  });

  it('hands every held message back on drain, and forgets their windows', () => {
    const { clock, w, send } = setup();
    send('a1', 'fs/p/a', { stat: file(1) });
    send('a2', 'fs/p/a', { stat: file(2) });
    send('a3', 'fs/p/a', { stat: file(3) });
    send('b1', 'fs/p/b', { stat: file(1) });
    send('b2', 'fs/p/b', { stat: file(2) });
    expect(w.drainHeld().map((p) => p.name).sort()).toEqual(['a2', 'a3', 'b2']);
    expect(w.held).toBe(0);
    clock.advance(2000);
    expect(w.due()).toEqual([]);
    expect(w.nextDeadline()).toBeUndefined();
  });
});

describe('Winnower: paths that collide on the path key', () => {
  it('never merges their held changes', () => {
    const clock = new FakeClock();
    const w = new Winnower<string>({ cacheMax: 100, cacheTtlMs: 3_600_000, windowMs: 1000, maxHeld: 100, clock });
    const mk = (name: string, pathCheck: number, changeKey: number, seq: number): Change<string> =>
      ({ payload: name, pathKey: 42, pathCheck, changeKey, content: true, clears: false, host: 'h', seqs: [seq, seq] });
    expect(forwards(w.receive(mk('a1', 1, 100, 1)))).toHaveLength(1);
    expect(w.receive(mk('a2', 1, 101, 2))).toEqual([]);
    const out = w.receive(mk('b1', 2, 200, 3));
    expect(forwards(out).map((f) => f.payloads)).toEqual([['a2']]);
    clock.advance(1000);
    expect(forwards(w.due()).map((f) => f.payloads)).toEqual([['b1']]);
  });
});
