import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createAgent, type Agent } from '../src/index.js';
import { encodeRecord, RecordFlag } from '../src/spool/record.js';
import { bindTestQueue, drainQueue, publishJson, testAgentConfig, waitForQueue } from './broker-helpers.js';
import { b, fileStat, tempDir, uniqueFlow } from './helpers.js';

const brokerUrl = inject('infra').brokerUrl;

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function scene(tag: string) {
  const tmp = tempDir(tag);
  const root = join(tmp.dir, 'root');
  const spool = join(tmp.dir, 'spool');
  const state = join(tmp.dir, 'state');
  mkdirSync(join(root, 'run'), { recursive: true });
  mkdirSync(spool, { mode: 0o700 });
  const flow = uniqueFlow(tag);
  const config = testAgentConfig({ flow, brokerUrl, sourceRoot: root, stateDir: state, spoolDir: spool, agent: { reject: ['*.tmp'] } });
  return { tmp, root, spool, state, flow, config, queue: `test.${flow}` };
}

describe('agent: spool records to v03 messages (real broker)', () => {
  const agents: Agent[] = [];
  const cleanups: (() => void)[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    for (const c of cleanups.splice(0)) c();
  });

  it('announces each operation with the v03 fields, skips what it must, and aggregates progress', async () => {
    const s = scene('fields');
    cleanups.push(s.tmp.cleanup);
    const r = (p: string): Buffer => b(join(s.root, p));
    writeFileSync(join(s.root, 'run/a.grib'), 'hello');
    writeFileSync(join(s.root, 'run/b.grib'), 'bb');
    mkdirSync(join(s.root, 'dir'));
    const T = 1_795_000_000_000_000_000n;
    const aStat = lstatSync(join(s.root, 'run/a.grib'), { bigint: true });
    const closeStat = { ...fileStat(5, aStat.mtimeNs, 0o100640, aStat.ino) };
    const odd = Buffer.concat([r('run/'), Buffer.from([0xff]), b('.bin')]);
    const records = [
      encodeRecord({ op: 'OPEN_W', pid: 11, timeNs: T, path: r('run/a.grib') }),
      encodeRecord({ op: 'CLOSE_W', pid: 11, timeNs: T + 1n, path: r('run/a.grib'), stat: closeStat }),
      encodeRecord({ op: 'RENAME', pid: 11, timeNs: T + 2n, path: r('run/b.grib'), path2: r('run/b.grib.tmp') }),
      encodeRecord({ op: 'RENAME', pid: 11, timeNs: T + 3n, path: r('run/c.grib'), path2: r('run/a2.grib') }),
      encodeRecord({ op: 'SYMLINK', pid: 11, timeNs: T + 4n, path: r('run/latest'), path2: b('a.grib') }),
      encodeRecord({ op: 'LINK', pid: 11, timeNs: T + 5n, path: r('run/h'), path2: r('run/a.grib') }),
      encodeRecord({ op: 'UNLINK', pid: 11, timeNs: T + 6n, path: r('run/gone') }),
      encodeRecord({ op: 'MKDIR', pid: 11, timeNs: T + 7n, path: r('dir') }),
      encodeRecord({ op: 'RMDIR', pid: 11, timeNs: T + 8n, flags: RecordFlag.DIR, path: r('old') }),
      encodeRecord({ op: 'UNLINK', pid: 11, timeNs: T + 9n, path: r('run/x.tmp') }),
      encodeRecord({ op: 'UNLINK', pid: 11, timeNs: T + 10n, path: b('/elsewhere/f') }),
      Buffer.from('this is not a record, it is a corrupt stretch'),
      encodeRecord({ op: 'META', pid: 11, timeNs: T + 11n, path: r('run/a.grib') }),
      encodeRecord({ op: 'CLOSE_W', pid: 12, timeNs: T + 12n, path: odd, stat: fileStat(1) }),
    ];
    // A bucket that is not over: the segment stays (deletion is the other test's business).
    const segName = `hpc1.${String(Math.floor(Date.now() / 1000)).padStart(12, '0')}.seg`;
    writeFileSync(join(s.spool, segName), Buffer.concat(records));
    await bindTestQueue(brokerUrl, s.config.exchange, s.queue);

    const scans: { sinceNs: bigint; reason: string }[] = [];
    const agent = createAgent({ config: s.config, scheduleScan: (sinceNs, _dir, reason) => scans.push({ sinceNs, reason }) });
    agents.push(agent);
    await agent.start();
    const msgs = await drainQueue(brokerUrl, s.queue, (all) => all.length >= 10);
    expect(msgs).toHaveLength(10);
    const bodies = msgs.map((m) => m.body);
    expect(bodies.map((m) => m.hpcm_seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const rel = (p: string): string => join(s.root, p).slice(1);
    for (const [i, m] of msgs.entries()) {
      expect(m.body).toMatchObject({ baseUrl: 'sftp://tester@hpc1/', hpcm_host: 'hpc1', from_cluster: 'clusterA', source: 'tester' });
      expect(m.body.pubTime).toMatch(/^\d{8}T\d{6}\.\d{6}$/);
      expect(m.headers.hpcm_path).toBe(m.body.relPath);
      const dir = i === 6 || i === 7 ? rel('') : rel('run');
      expect(m.routingKey).toBe(`v03.${dir.split('/').filter(Boolean).join('.')}`);
    }
    const [closeMsg, renamedIn, rename, symlink, hlink, remove, mkdir, rmdir, meta, oddMsg] = bodies;
    expect(closeMsg).toMatchObject({
      relPath: rel('run/a.grib'), identity: { method: 'cod', value: 'sha512' }, size: 5, mode: '640',
      hpcm_mtimeNs: aStat.mtimeNs.toString(), hpcm_ctimeNs: (aStat.mtimeNs + 1n).toString(), hpcm_ino: aStat.ino.toString(),
      hpcm_eventNs: (T + 1n).toString(),
    });
    expect(closeMsg!.fileOp).toBeUndefined();
    expect(renamedIn).toMatchObject({ relPath: rel('run/b.grib'), size: 2, identity: { method: 'cod' } });
    expect(rename).toMatchObject({ relPath: rel('run/c.grib'), fileOp: { rename: rel('run/a2.grib') } });
    expect(symlink).toMatchObject({ relPath: rel('run/latest'), fileOp: { link: 'a.grib' } });
    expect(hlink).toMatchObject({ relPath: rel('run/h'), fileOp: { hlink: rel('run/a.grib') } });
    expect(remove).toMatchObject({ relPath: rel('run/gone'), fileOp: { remove: '' } });
    expect(mkdir).toMatchObject({ relPath: rel('dir'), fileOp: { directory: '' } });
    expect(rmdir).toMatchObject({ relPath: rel('old'), fileOp: { remove: '', directory: '' } });
    expect(meta).toMatchObject({ relPath: rel('run/a.grib'), size: 5, mode: '644' });
    expect(oddMsg).toMatchObject({ relPath: `${rel('run/')}%FF.bin`, hpcm_pathEncoding: 'percent' });

    expect(scans).toEqual([{ sinceNs: T + 10n, reason: 'corrupt' }]);
    const m = agent.metrics();
    expect(m).toMatchObject({ recordsRead: 13, recordsSkipped: 1, published: 10 });
    await until(() => agent.metrics().confirmed === 10);

    await waitForQueue(brokerUrl, `q_tester_${s.flow}.progress.hpc1`);
    await publishJson(brokerUrl, `${s.config.exchange}.progress`, 'progress.hpc1', { host: 'hpc1', state: 'applied', seqs: [[1, 4], [6, 10]] });
    await publishJson(brokerUrl, `${s.config.exchange}.progress`, 'progress.hpc1', { host: 'hpc1', state: 'parked', seqs: [[5, 5]], reason: 'too big', paths: [rel('run/h')] });
    const progressFile = join(s.state, 'progress.json');
    await until(() => existsSync(progressFile) && JSON.parse(readFileSync(progressFile, 'utf8')).watermark === 10);
    expect(JSON.parse(readFileSync(progressFile, 'utf8'))).toMatchObject({ host: 'hpc1', assigned: 10, watermark: 10, parked: [{ seq: 5, path: rel('run/h'), reason: 'too big' }] });

    const size = Buffer.concat(records).length;
    await until(() => {
      const st = JSON.parse(readFileSync(join(s.state, 'agent-state.json'), 'utf8'));
      return st.segments[segName]?.checkpoint === size;
    });
    const st = JSON.parse(readFileSync(join(s.state, 'agent-state.json'), 'utf8'));
    expect(st).toMatchObject({ seq: { assigned: 10, confirmedBelow: 10 }, scans: [{ reason: 'corrupt' }] });
  });

  it('announces files of writers that vanished, handles loss markers, deletes finished segments', async () => {
    const s = scene('lifecycle');
    cleanups.push(s.tmp.cleanup);
    writeFileSync(join(s.root, 'run/killed.dat'), 'partial');
    writeFileSync(join(s.root, 'run/closed.dat'), 'x');
    const deadPid = spawnSync('true').pid!;
    const old = join(s.spool, 'hpc1.001000000000.seg'); // a bucket long over
    writeFileSync(old, Buffer.concat([
      encodeRecord({ op: 'OPEN_W', pid: deadPid, timeNs: 5n, path: b(join(s.root, 'run/killed.dat')) }),
      encodeRecord({ op: 'OPEN_W', pid: process.pid, timeNs: 6n, path: b(join(s.root, 'run/still-open.dat')) }),
    ]));
    const current = join(s.spool, `hpc1.${String(Math.floor(Date.now() / 1000)).padStart(12, '0')}.seg`);
    writeFileSync(current, encodeRecord({ op: 'CLOSE_W', pid: 3, timeNs: 7n, path: b(join(s.root, 'run/closed.dat')), stat: fileStat(1) }));
    writeFileSync(join(s.spool, 'hpc1.loss'), '1795000000123456789');
    await bindTestQueue(brokerUrl, s.config.exchange, s.queue);

    const scans: bigint[] = [];
    const agent = createAgent({ config: s.config, sweepMs: 100, checkpointMs: 50, scheduleScan: (since) => scans.push(since) });
    agents.push(agent);
    await agent.start();
    await expect(createAgent({ config: s.config }).start()).rejects.toMatchObject({ code: 'HPM_STATE_LOCKED' });
    const msgs = await drainQueue(brokerUrl, s.queue, (all) => all.length >= 2);
    expect(msgs.map((m) => m.body.relPath).sort()).toEqual([join(s.root, 'run/closed.dat').slice(1), join(s.root, 'run/killed.dat').slice(1)]);
    expect(msgs.find((m) => String(m.body.relPath).endsWith('killed.dat'))!.body).toMatchObject({ size: 7 });
    expect(scans).toEqual([1795000000123456789n]);
    expect(existsSync(join(s.spool, 'hpc1.loss'))).toBe(false);
    await until(() => !existsSync(old));
    expect(existsSync(current)).toBe(true);
    // The segment's unlink is seen before its counter moves; the sweep may still be finishing.
    await until(() => { const c = agent.metrics(); return c.lossMarkers === 1 && c.dirtySetSize === 1 && c.segmentsDeleted === 1; }, 30_000).catch(() => undefined);
    const m = agent.metrics();
    expect(m).toMatchObject({ lossMarkers: 1, dirtySetSize: 1, segmentsDeleted: 1 });
    // The checkpoint trails the in-memory set by up to checkpointMs.
    const readState = () => JSON.parse(readFileSync(join(s.state, 'agent-state.json'), 'utf8'));
    await until(() => readState().dirty.length === 1).catch(() => undefined);
    const st = readState();
    expect(st.scans).toMatchObject([{ sinceNs: '1795000000123456789', reason: 'loss' }]);
    expect(st.dirty).toMatchObject([{ holders: [['hpc1', process.pid]] }]);
    await agent.stop();
    await agent.stop();
  });
  it('on a shared spool: polls for appends, and announces other hosts\' open files once quiet', async () => {
    const s = scene('shared');
    cleanups.push(s.tmp.cleanup);
    const config = { ...s.config, agent: { ...s.config.agent!, spool_shared: true, poll_ms: 50, dirty_quiet_s: 0.5 } };
    writeFileSync(join(s.root, 'run/mpi.out'), 'ranks');
    await bindTestQueue(brokerUrl, config.exchange, s.queue);
    const agent = createAgent({ config, sweepMs: 100 });
    agents.push(agent);
    await agent.start();
    const bucket = String(Math.floor(Date.now() / 1000)).padStart(12, '0');
    // Another host's writer: its pid cannot be checked from here, so only the quiet rule announces it.
    appendFileSync(join(s.spool, `node17.${bucket}.seg`), encodeRecord({ op: 'OPEN_W', pid: 1, timeNs: 1n, path: b(join(s.root, 'run/mpi.out')) }));
    appendFileSync(join(s.spool, `hpc1.${bucket}.seg`), encodeRecord({ op: 'MKDIR', pid: 2, timeNs: 2n, path: b(join(s.root, 'run/new')) }));
    const msgs = await drainQueue(brokerUrl, s.queue, (all) => all.length >= 2);
    const byPath = new Map(msgs.map((m) => [m.body.relPath, m.body]));
    expect(byPath.get(join(s.root, 'run/new').slice(1))).toMatchObject({ fileOp: { directory: '' }, hpcm_host: 'hpc1' });
    expect(byPath.get(join(s.root, 'run/mpi.out').slice(1))).toMatchObject({ size: 5 });
    expect(agent.metrics().dirtySetSize).toBe(1);

    // The same instance starts again from what is on disk and goes on numbering.
    await agent.stop();
    appendFileSync(join(s.spool, `hpc1.${bucket}.seg`), encodeRecord({ op: 'RMDIR', pid: 2, timeNs: 3n, path: b(join(s.root, 'run/new')) }));
    await agent.start();
    const more = await drainQueue(brokerUrl, s.queue, (all) => all.length >= 1);
    expect(more.map((m) => [m.body.hpcm_seq, m.body.fileOp])).toEqual([[3, { remove: '', directory: '' }]]);
    expect(agent.metrics().dirtySetSize).toBe(1);
  });
});
