import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@hpcmirror/core';
import { sandboxDown, sandboxUp, type SandboxState } from '../../packages/sandbox/src/index.js';
import { writeSandboxConfigs } from '../../packages/cli/src/sandbox/sandbox-configs.js';
import { shimEnvironment } from '../../packages/cli/src/shim-env.js';
import type { StatusReport } from '../../packages/cli/src/ops/status-report.js';
import type { StatusFileJson } from '../../packages/cli/src/ops/status-file.js';
import { CLI, eventually, runCli } from './cli-process.js';

/**
 * `hpcmirror sandbox up` as the CLI does it, with the built CLI as every component, and the
 * generated config turned to `metrics.enabled` (port 0: one ephemeral port per component).
 */
function prepare(state: SandboxState) {
  const { forward } = writeSandboxConfigs(state);
  const cfg = parse(readFileSync(forward, 'utf8')) as Record<string, any>;
  cfg.metrics = { enabled: true, port: 0 };
  // Under vitest the config writer points at the sources; the remote helper must be the built CLI.
  cfg.subscriber.ssh.remote_helper = `HPCM_SHIM=0 ${process.execPath} ${CLI} helper`;
  writeFileSync(forward, stringify(cfg));
  // As the CLI's own sandbox services: started together; the first test waits until all report running.
  const run = (name: string) => ({ name, argv: [process.execPath, CLI, name, '--config', forward], env: { HPCM_SHIM: '0', LD_PRELOAD: '' }, stopTimeoutMs: 15_000 });
  return { services: [run('agent'), run('winnow'), run('subscriber')], shimEnv: shimEnvironment(loadConfig(forward)), extra: { configs: { forward } } };
}

describe('status, metrics and doctor against the sandbox', () => {
  let dir: string;
  let state: SandboxState;
  const status = async (...args: string[]) => runCli(['status', '--sandbox', dir, ...args]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hpcm-ops-sandbox-'));
    state = await sandboxUp({ dir, prepare });
  }, 240_000);

  afterAll(async () => {
    if (dir) await sandboxDown({ dir });
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('status shows the three components running, their rates, lag and spool, and queue depths from the management API', async () => {
    const w = await runCli(['shim', 'run', '--sandbox', dir, '--', 'sh', '-c', `echo a > ${state.src}/a && echo b > ${state.src}/b && mv ${state.src}/b ${state.src}/c`]);
    expect(w.code, w.stderr).toBe(0);
    const report = await eventually(async () => {
      const r = await status('--json');
      if (r.code !== 0) return undefined;
      const j = JSON.parse(r.stdout) as StatusReport;
      const sub = j.flows[0]!.components.find((c) => c.component === 'subscriber');
      const applied = (sub?.metrics as { counters?: { applied?: number } } | undefined)?.counters?.applied ?? 0;
      // Each status file is rewritten on its own 2 s tick: the agent's may trail the subscriber's.
      const agent = j.flows[0]!.components.find((c) => c.component === 'agent');
      const published = (agent?.metrics as { published?: number } | undefined)?.published ?? 0;
      // Management statistics (consumer counts) trail by a few seconds.
      const consumers = j.flows[0]!.broker.stages.find((s) => s.stage === 'sub.small')?.consumers;
      return applied >= 2 && published >= 2 && existsSync(join(state.dst, 'c')) && consumers === 4 ? j : undefined;
    }, 120_000, 'the writes to be mirrored and reported');
    const f = report.flows[0]!;
    const pids = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')).pids as Record<string, number>;
    for (const c of f.components) {
      expect(c).toMatchObject({ state: 'running', manager: 'sandbox', expected: true, pid: pids[c.component] });
      expect(c.uptimeS).toBeGreaterThan(0);
    }
    const agent = f.components.find((c) => c.component === 'agent')!;
    expect((agent.metrics as { published: number }).published).toBeGreaterThanOrEqual(2);
    expect(agent.lagS).toEqual(expect.any(Number));
    expect(agent.spool).toMatchObject({ dir: join(dir, 'spool'), exists: true, lossPending: [] });
    expect(agent.spool!.bytes).toBeGreaterThan(0);
    expect(Object.keys(agent.rates)).toContain('published');
    expect(f.broker).toMatchObject({ via: 'management', reachable: true });
    expect(f.broker.url).not.toContain('guest:guest');
    const winnow = f.broker.stages.find((s) => s.stage === 'winnow')!;
    expect(winnow).toMatchObject({ declared: true, parked: 0 });
    expect(winnow.consumers).toBeGreaterThanOrEqual(1);
    expect(f.broker.stages.find((s) => s.stage === 'sub.small')).toMatchObject({ declared: true, consumers: 4 });

    const human = await status();
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ {2}agent +running +sandbox +\d+ /m);
    expect(human.stdout).toMatch(/^ {2}QUEUES +MESSAGES +UNACKED/m);
    const check = await status('--check');
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^HPCMIRROR OK - 3\/3 components running, lag \d+s, 0 parked, spool \d+ B \| lag=/);
    expect(check.stdout.trim().split('\n')).toHaveLength(1);
  }, 180_000);

  it('every component serves Prometheus metrics on the port its status file names', async () => {
    const statusDir = join(dir, 'state', 'forward', 'status');
    const scrape = async (name: string): Promise<string> => {
      const s = JSON.parse(readFileSync(join(statusDir, `${name}.json`), 'utf8')) as StatusFileJson;
      expect(s.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(s.metricsUrl!);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const agent = await scrape('agent');
    expect(Number(/^hpcmirror_agent_published_total\{flow="sandbox"\} (\d+)$/m.exec(agent)?.[1])).toBeGreaterThanOrEqual(2);
    expect(agent).toMatch(/^hpcmirror_agent_lag_seconds\{flow="sandbox"\} [\d.]+$/m);
    expect(agent).toMatch(/^hpcmirror_agent_spool_bytes\{flow="sandbox"\} \d+$/m);
    const sub = await scrape('subscriber');
    expect(Number(/^hpcmirror_subscriber_latency_seconds_count\{flow="sandbox"\} (\d+)$/m.exec(sub)?.[1])).toBeGreaterThanOrEqual(2);
    expect(sub).toMatch(/^hpcmirror_subscriber_latency_seconds_bucket\{le="\+Inf",flow="sandbox"\} \d+$/m);
    expect(sub).toMatch(/^hpcmirror_subscriber_bytes_total\{flow="sandbox"\} \d+$/m);
    expect(sub).toMatch(/^hpcmirror_subscriber_retried_total\{flow="sandbox"\} 0$/m);
    expect(await scrape('winnow')).toMatch(/^hpcmirror_winnow_received_total\{flow="sandbox"\} \d+$/m);
  }, 60_000);

  it('a parked message turns --check to WARNING, counted from the parking queue', async () => {
    const conn = await amqp.connect(state.brokerUrl);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish(state.exchange, 'v03.post.x', Buffer.from('{not json'), { headers: { hpcm_path: 'x' }, persistent: true });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const check = await eventually(async () => {
      const r = await status('--check');
      return r.code === 1 ? r : undefined;
    }, 60_000, 'status --check to warn about the parked message');
    expect(check.stdout).toMatch(/^HPCMIRROR WARNING - 1 parked message \| lag=\d+s;300;600 parked=1;1;100 /);
  }, 90_000);

  it('doctor finds nothing wrong with the sandbox', async () => {
    const r = await runCli(['doctor', '--sandbox', dir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const check of ['broker', 'ssh', 'shim library', 'spool dir', 'state dir']) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}ok {4}${check} `, 'm'));
    }
    expect(r.stdout).toMatch(/^no problems found$/m);
  }, 90_000);

  it('a component that dies turns --check to CRITICAL', async () => {
    const pid = (JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')).pids as Record<string, number>).subscriber!;
    process.kill(pid, 'SIGKILL');
    const r = await eventually(async () => {
      const x = await status('--check');
      return x.code === 2 ? x : undefined;
    }, 30_000, 'status --check to turn critical');
    expect(r.stdout).toMatch(/^HPCMIRROR CRITICAL - subscriber failed \(pid \d+ exited without a clean stop\)/);
  }, 60_000);
});
