import { silentLogger } from '@hpcmirror/core';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createWinnow, type WinnowService } from '../src/winnow-service.js';
import { TestFlow, sleep, waitFor } from './helpers/broker-flow.js';
import { announceBytes, type FileStat } from './helpers/messages.js';

const file = (n: number, extra: FileStat = {}): FileStat => ({ size: 100, mtimeNs: 1_700_000_000_000_000_000n + BigInt(n), ctimeNs: 1_700_000_000_000_000_000n + BigInt(n), ino: 7n, ...extra });

let flow: TestFlow;
const services: WinnowService[] = [];
const start = async (...args: Parameters<typeof createWinnow>): Promise<WinnowService> => {
  const s = createWinnow(...args);
  services.push(s);
  await s.start();
  return s;
};

beforeEach(async () => {
  flow = new TestFlow(inject('infra').brokerUrl);
  await flow.open();
});

afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  await flow.close();
});

describe('winnow through a real broker', () => {
  it('suppresses duplicates, passes every change that is not one, routes by size and reports progress', async () => {
    const w = await start({ config: flow.config({ window_ms: 0, large_threshold_bytes: 1_000_000 }), logger: silentLogger() });
    const A = { identity: { method: 'sha512', value: 'AAAA' }, stat: file(1) };
    const B = { identity: { method: 'sha512', value: 'BBBB' }, stat: file(1) };
    let seq = 0;
    const m = (path: string, facts: Parameters<typeof announceBytes>[1] = {}): Buffer => announceBytes(path, { seq: ++seq, ...facts });
    await flow.publish([
      m('fs/primary/d/a', { stat: file(1) }), // 1 forwarded
      m('fs/primary/d/a', { stat: file(1) }), // 2 duplicate
      m('fs/primary/d/latest', { kind: 'symlink', linkTarget: 'run1' }), // 3
      m('fs/primary/d/latest', { kind: 'symlink', linkTarget: 'run2' }), // 4 ln -sf re-point
      m('fs/primary/d/x', A), // 5
      m('fs/primary/d/x', B), // 6
      m('fs/primary/d/x', A), // 7 A -> B -> A
      m('fs/primary/d/r', { stat: file(1) }), // 8
      m('fs/primary/d/r', { stat: file(1, { ctimeNs: 9n, ino: 99n }) }), // 9 re-create, old mtime
      m('fs/primary/d/big', { stat: file(1, { size: 5_000_000 }) }), // 10 large
      m('fs/primary/d/a', { kind: 'remove' }), // 11
      m('fs/primary/d/a', { stat: file(1) }), // 12 after the remove: not a duplicate
    ]);
    await waitFor('11 forwards', () => flow.forwarded.length >= 11 && w.metrics().suppressed === 1);
    await sleep(200);
    const seqs = flow.forwarded.map((f) => f.body.hpcm_seq as number);
    expect(seqs).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for (const f of flow.forwarded) {
      expect(f.body.hpcm_covers).toEqual([f.body.hpcm_seq, f.body.hpcm_seq]);
      expect(f.headers.hpcm_path).toBe(f.body.relPath);
      expect(f.routingKey).toBe('v03.fs.primary.d');
    }
    expect(flow.forwarded.filter((f) => f.exchange.endsWith('.large')).map((f) => f.body.hpcm_seq)).toEqual([10]);
    const progress = await waitFor('the suppressed report', () => flow.progress.find((p) => p.state === 'suppressed'));
    expect(progress).toEqual({ host: 'hpc1', state: 'suppressed', seqs: [[2, 2]] });
    // forwarded counts confirms, which may trail the copies the consumer here already has.
    await waitFor('every forward confirmed', () => w.metrics().inflight === 0 && w.metrics().forwarded === 11);
    expect(w.metrics()).toMatchObject({ received: 12, forwarded: 11, forwardedLarge: 1, suppressed: 1, parked: 0, held: 0, inflight: 0 });
  });

  it('parks malformed messages with the reason', async () => {
    const w = await start({ config: flow.config({ window_ms: 0 }), logger: silentLogger() });
    const bad = JSON.stringify({ pubTime: '20261123T101500', baseUrl: 'sftp://h/', relPath: '/abs/path', hpcm_seq: 4, hpcm_host: 'hpc1' });
    await flow.publish([Buffer.from('not json'), Buffer.from(bad), announceBytes('elsewhere/f', { seq: 5, stat: file(1) })]);
    const parkedQueue = `${w.settings.stage.name}.parked`;
    await waitFor('3 parked', async () => (await flow.queueDepth(parkedQueue)) === 3);
    const reasons = (await flow.getAll(parkedQueue)).map((g) => String(g.properties.headers?.hpcm_reject));
    expect(reasons[0]).toMatch(/^HPM_MSG_INVALID: body: not JSON/);
    expect(reasons[1]).toMatch(/^HPM_PATH_UNSAFE: relPath: is absolute/);
    expect(reasons[2]).toMatch(/^HPM_PATH_OUTSIDE_ROOT/);
    const reports = await waitFor('parked reports', () => flow.progress.filter((p) => p.state === 'parked').length === 2 && flow.progress.filter((p) => p.state === 'parked'));
    expect(reports.map((r) => r.seqs).sort()).toEqual([[[4, 4]], [[5, 5]]]);
    expect(w.metrics()).toMatchObject({ received: 3, parked: 3, forwarded: 0 });
  });

  it('turns a burst of 1,000 rewrites into at most two forwards, the last carrying the last mtime', async () => {
    const config = flow.config({ window_ms: 3000 });
    // Declare the stage, then queue the burst up before the winnow reads it.
    const first = await start({ config, logger: silentLogger() });
    await first.stop();
    const burst = Array.from({ length: 1000 }, (_, i) => announceBytes('fs/primary/hot/f.nc', { seq: i + 1, stat: file(i + 1) }));
    await flow.publish(burst);
    const w = await start({ config, logger: silentLogger() });
    await waitFor('the trailing forward', () => flow.forwarded.length >= 2 && w.metrics().held === 0 && w.metrics().inflight === 0, 40_000);
    await sleep(300);
    expect(flow.forwarded).toHaveLength(2);
    const [lead, trail] = flow.forwarded;
    expect(lead!.body.hpcm_covers).toEqual([1, 1]);
    expect(trail!.body.hpcm_covers).toEqual([2, 1000]);
    expect(trail!.body.hpcm_coveredSeqs).toBeUndefined();
    expect(trail!.body.hpcm_mtimeNs).toBe(String(file(1000).mtimeNs));
    expect(w.metrics()).toMatchObject({ received: 1000, forwarded: 2, coalesced: 998 });
    expect(await flow.queueDepth(`${w.settings.stage.name}.0`)).toBe(0);
  });

  it('loses nothing when stopped mid-window: held messages go back to the queue and the last change arrives after a restart', async () => {
    const w = await start({ config: flow.config({ window_ms: 30_000 }), logger: silentLogger() });
    await flow.publish(Array.from({ length: 50 }, (_, i) => announceBytes('fs/primary/hot/g.nc', { seq: i + 1, stat: file(i + 1) })));
    await waitFor('49 held', () => w.metrics().held === 49 && flow.forwarded.length === 1);
    await w.stop();
    expect(w.metrics().requeued).toBe(49);
    const queue = `${w.settings.stage.name}.0`;
    await waitFor('49 back in the queue', async () => (await flow.queueDepth(queue)) === 49);
    expect(flow.forwarded).toHaveLength(1);

    const again = await start({ config: flow.config({ window_ms: 300 }), logger: silentLogger() });
    await waitFor('the last change', () => flow.forwarded.find((f) => f.body.hpcm_seq === 50));
    await waitFor('all acked', async () => again.metrics().held === 0 && again.metrics().inflight === 0 && (await flow.queueDepth(queue)) === 0);
    const last = flow.forwarded.at(-1)!;
    expect(last.body.hpcm_mtimeNs).toBe(String(file(50).mtimeNs));
    const covered = new Set<number>();
    for (const f of flow.forwarded) for (let s = f.body.hpcm_covers[0]; s <= f.body.hpcm_covers[1]; s++) covered.add(s);
    expect(covered.size).toBe(50);
  });

  it('runs a second process on the same shard as a hot standby', async () => {
    const config = flow.config({ window_ms: 0 });
    const a = await start({ config, logger: silentLogger() });
    const b = await start({ config, logger: silentLogger() });
    const batch = (from: number): Buffer[] => Array.from({ length: 10 }, (_, i) => announceBytes(`fs/primary/sb/f${from + i}`, { seq: from + i, stat: file(1) }));
    await flow.publish(batch(1));
    await waitFor('10 forwards', () => flow.forwarded.length === 10);
    const [active, standby] = a.metrics().received === 10 ? [a, b] : [b, a];
    expect(active.metrics().received).toBe(10);
    expect(standby.metrics().received).toBe(0);
    await active.stop();
    await flow.publish(batch(11));
    await waitFor('the standby takes over', () => flow.forwarded.length === 20);
    expect(standby.metrics().received).toBe(10);
  });

  it('two instances never forward the same duplicate', async () => {
    const config = flow.config({ instances: 2, window_ms: 0 });
    const w0 = await start({ config, logger: silentLogger(), instance: 0 });
    const w1 = await start({ config, logger: silentLogger(), instance: 1 });
    const paths = Array.from({ length: 200 }, (_, i) => `fs/primary/many/f${i}`);
    let seq = 0;
    const round = (): Buffer[] => paths.map((p) => announceBytes(p, { seq: ++seq, stat: file(1) }));
    await flow.publish([...round(), ...round(), ...round()]);
    await waitFor('200 forwards and 400 duplicates', () => w0.metrics().suppressed + w1.metrics().suppressed === 400 && flow.forwarded.length >= 200);
    await sleep(300);
    expect(flow.forwarded).toHaveLength(200);
    expect(new Set(flow.forwarded.map((f) => f.body.relPath)).size).toBe(200);
    expect(w0.metrics().received).toBeGreaterThan(0);
    expect(w1.metrics().received).toBeGreaterThan(0);
    expect(w0.metrics().received + w1.metrics().received).toBe(600);
  });
});
