import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { declareStage, flowNamingFor, flowTopology, parseConfig, stageNames, type LoadedConfig } from '@hpcmirror/core';
import { collectStatus } from '../../packages/cli/src/ops/status-collect.js';
import { writeStatusFile } from '../../packages/cli/src/ops/status-file.js';
import type { FlowTarget } from '../../packages/cli/src/ops/config-targets.js';
import type { ManagerContext } from '../../packages/cli/src/ops/process-manager.js';

const infra = inject('infra');
const noSystemd: ManagerContext = { systemctl: async () => ({ code: 1, stdout: 'offline', stderr: '' }), userManager: false, templates: new Set() };

// On the shared broker, under a flow name of its own.
describe('status from the broker and from status files', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'hpcm-ops-status-'));
  const flow = `st${process.pid}`;
  const yaml = (extra: string) => `flow: ${flow}\nbroker: {url: "${infra.brokerUrl}/"}\nsource_root: ${scratch}/src\ndestination_root: ${scratch}/dst\nstate_dir: ${scratch}/state\nsubscriber: {transport: local, shards: 2}\n${extra}`;
  const target = (cfg: LoadedConfig): FlowTarget => ({ name: 'st', configFile: cfg.configFile, config: cfg, components: ['subscriber'] });
  let cfg: LoadedConfig;

  beforeAll(async () => {
    cfg = parseConfig(yaml(''), join(scratch, 'st.yaml'));
    const conn = await amqp.connect(infra.brokerUrl);
    const ch = await conn.createConfirmChannel();
    const t = flowTopology(flowNamingFor(cfg));
    for (const s of [t.winnow, t.subscriberSmall, t.subscriberLarge]) await declareStage(ch, s);
    const small = stageNames(t.subscriberSmall);
    ch.sendToQueue(small.parkingQueue, Buffer.from('parked'), { persistent: true });
    ch.sendToQueue(small.shardQueues[1]!, Buffer.from('waiting'), { persistent: true });
    ch.sendToQueue(small.retryQueues[3]!, Buffer.from('retrying'), { persistent: true });
    await ch.waitForConfirms();
    await conn.close();
  }, 60_000);
  afterAll(async () => {
    const conn = await amqp.connect(infra.brokerUrl);
    const ch = await conn.createChannel();
    const t = flowTopology(flowNamingFor(cfg));
    for (const s of [t.winnow, t.subscriberSmall, t.subscriberLarge]) {
      const n = stageNames(s);
      for (const q of [...n.shardQueues, ...n.retryQueues, n.parkingQueue]) await ch.deleteQueue(q);
      await ch.deleteExchange(n.hashExchange);
    }
    await conn.close();
    rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('counts waiting, retrying and parked messages by AMQP passive declares, and by the management API', async () => {
    const viaAmqp = await collectStatus([target(cfg)], { manager: noSystemd });
    const small = viaAmqp.flows[0]!.broker.stages.find((s) => s.stage === 'sub.small')!;
    expect(viaAmqp.flows[0]!.broker).toMatchObject({ via: 'amqp', reachable: true });
    expect(small).toMatchObject({ declared: true, messages: 1, unacked: null, retry: 1, parked: 1, inRate: null });
    expect(small.queues.map((q) => q.name)).toContain(`q_${cfg.user}_${flow}.sub.small.parked`);
    expect(viaAmqp.check).toMatchObject({ level: 1, line: expect.stringMatching(/^HPCMIRROR WARNING - 1 parked message \|/) });

    const withMgmt = parseConfig(yaml(`status: {management_url: "${infra.mgmtUrl}"}\n`), join(scratch, 'st.yaml'));
    // Management statistics trail by a few seconds, each queue's on its own schedule: wait for all of them.
    let mgmt;
    for (const t0 = Date.now(); Date.now() - t0 < 60_000;) {
      mgmt = await collectStatus([target(withMgmt)], { manager: noSystemd });
      const st = mgmt.flows[0]!.broker.stages.find((s) => s.stage === 'sub.small');
      if (st?.parked === 1 && st.retry === 1 && st.messages === 1 && st.unacked === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const m = mgmt!.flows[0]!.broker;
    expect(m).toMatchObject({ via: 'management', reachable: true });
    expect(m.stages.find((s) => s.stage === 'sub.small')).toMatchObject({ messages: 1, unacked: 0, retry: 1, parked: 1 });
  }, 120_000);

  it('falls back to AMQP when the management API fails, and says so', async () => {
    const broken = parseConfig(yaml('status: {management_url: "http://127.0.0.1:1/"}\n'), join(scratch, 'st.yaml'));
    const r = await collectStatus([target(broken)], { manager: noSystemd });
    expect(r.flows[0]!.broker).toMatchObject({ via: 'amqp', reachable: true, managementError: expect.stringMatching(/^http:\/\/127\.0\.0\.1:1\/: connection refused/) });
  });

  it('a status file whose process died without a clean stop is a failed component; a clean stop is just stopped', async () => {
    const base = {
      version: 1 as const, component: 'subscriber' as const, pidStartTime: 1, host: hostname(), flow, configFile: cfg.configFile,
      startedAt: new Date(Date.now() - 60_000).toISOString(), updatedAt: new Date(Date.now() - 30_000).toISOString(), rates: {}, metrics: { counters: { retried: 3, parked: 2 } },
    };
    // pid 2^22+1 is above pid_max's default range: no such process.
    await writeStatusFile(join(scratch, 'state', 'status'), { ...base, pid: 4_194_305, state: 'running' });
    const crashed = await collectStatus([target(cfg)], { manager: noSystemd });
    expect(crashed.flows[0]!.components[0]).toMatchObject({ state: 'failed', expected: true, manager: null, pid: null, retries: 3, parked: 2, error: 'pid 4194305 exited without a clean stop' });
    expect(crashed.check.level).toBe(2);
    await writeStatusFile(join(scratch, 'state', 'status'), { ...base, pid: 4_194_305, state: 'stopped', stoppedAt: new Date().toISOString() });
    const stopped = await collectStatus([target(cfg)], { manager: noSystemd });
    expect(stopped.flows[0]!.components[0]).toMatchObject({ state: 'stopped', expected: false });
    expect(stopped.check.level).toBe(1); // the parked message
    writeFileSync(join(scratch, 'state', 'status', 'junk.json'), '{not json');
    await expect(collectStatus([target(cfg)], { manager: noSystemd })).resolves.toBeTruthy();
  });
});
