import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, type StatusConfig } from '@hpcmirror/core';
import { statusCheck } from '../../packages/cli/src/ops/status-check.js';
import type { ComponentStatus, FlowStatus } from '../../packages/cli/src/ops/status-report.js';
import type { StageQueues } from '../../packages/cli/src/ops/queue-depths.js';
import { parseUnitShow, unitAction, unitState, userManagerRunning, type Systemctl } from '../../packages/cli/src/ops/systemd-user.js';
import { managerContext, systemdUnitFor } from '../../packages/cli/src/ops/process-manager.js';
import { parseTargetArg, resolveTargets } from '../../packages/cli/src/ops/config-targets.js';
import { scrubSecrets, secretsOf } from '../../packages/cli/src/ops/secret-scrub.js';

const scratch = mkdtempSync(join(tmpdir(), 'hpcm-ops-units-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const thresholds: StatusConfig = parseConfig('flow: f\nbroker: {url: "amqp://h/"}\nsource_root: /s\n', 'x.yaml').status;

function component(over: Partial<ComponentStatus>): ComponentStatus {
  return {
    component: 'agent', state: 'running', manager: 'background', expected: true, pid: 1, startedAt: null, uptimeS: 10,
    reportAgeS: 1, rates: {}, lagS: null, pending: null, retries: 0, parked: 0, ...over,
  };
}

function stage(over: Partial<StageQueues>): StageQueues {
  return { stage: 'winnow', declared: true, messages: 0, unacked: 0, consumers: 1, retry: 0, parked: 0, inRate: null, outRate: null, queues: [], ...over };
}

function flow(components: ComponentStatus[], stages: StageQueues[] = [stage({})], over: Partial<FlowStatus> = {}): FlowStatus {
  return {
    name: 'ops', flow: 'ops', configFile: '/c/ops.yaml', components, thresholds,
    broker: { url: 'amqp://h/', via: 'amqp', reachable: true, stages }, ...over,
  };
}

const spool = (over: Partial<NonNullable<ComponentStatus['spool']>>): NonNullable<ComponentStatus['spool']> => ({
  dir: '/sp', exists: true, segments: 1, bytes: 100, unconfirmedBytes: 0, maxBytes: 1000, lossPending: [], lossesRecent: [], lossesTotal: 0, ...over,
});

describe('status --check thresholds', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const check = (flows: FlowStatus[]) => statusCheck(flows, now);

  it('all running, nothing pending: OK with perfdata', () => {
    const r = check([flow([component({ lagS: 2, pending: 3 }), component({ component: 'subscriber' })])]);
    expect(r.level).toBe(0);
    expect(r.line).toMatch(/^HPCMIRROR OK - 2\/2 components running, lag 2s, 0 parked, spool 0 B \| lag=2s;300;600 parked=0;1;100 /);
  });

  it('lag, parked, spool loss, spool fill and paused removes each reach warning, then critical', () => {
    const cases: [FlowStatus, 1 | 2, RegExp][] = [
      [flow([component({ lagS: 301, pending: 5 })]), 1, /lag 5m01s \(5 events pending\)/],
      [flow([component({ lagS: 601, pending: 5 })]), 2, /lag 10m01s/],
      [flow([component({})], [stage({ parked: 1 })]), 1, /1 parked message$|1 parked message \|/],
      [flow([component({})], [stage({ parked: 60 }), stage({ stage: 'sub.small', parked: 40 })]), 2, /100 parked messages/],
      [flow([component({ spool: spool({ lossPending: [{ host: 'n1', since: '2026-01-01T00:00:00.000Z' }] }) })]), 1, /shim could not spool events 1x \(since 2026-01-01T00:00:00.000Z/],
      [flow([component({ spool: spool({ bytes: 500 }) })]), 1, /spool 50% full/],
      [flow([component({ spool: spool({ bytes: 950 }) })]), 2, /spool 95% full/],
      [flow([component({ component: 'subscriber', deletes: { paused: true, pausedSince: '2026-01-01T00:09:00Z', alert: 'too many removes' } })]), 1, /removes paused by the delete guard for 1m00s: too many removes/],
      [flow([component({ component: 'subscriber', deletes: { paused: true, pausedSince: '2026-01-01T00:00:00Z', alert: null } })]), 2, /removes paused .* 10m00s/],
    ];
    for (const [f, level, text] of cases) {
      const r = check([f]);
      expect({ level: r.level, line: r.line }).toMatchObject({ level, line: expect.stringMatching(text) });
      expect(r.line.startsWith(`HPCMIRROR ${level === 1 ? 'WARNING' : 'CRITICAL'} - `)).toBe(true);
    }
  });

  it('a component meant to run that does not is critical; one stopped on purpose is not; a silent one warns', () => {
    expect(check([flow([component({ state: 'stopped', expected: true, pid: null })])]).level).toBe(2);
    expect(check([flow([component({ state: 'stopped', expected: false, pid: null })])]).level).toBe(0);
    expect(check([flow([component({ state: 'failed', expected: false, error: 'HPM_BROKER_UNREACHABLE: x' })])]).line).toMatch(/WARNING - agent failed \(HPM_BROKER_UNREACHABLE: x\)/);
    expect(check([flow([component({ state: 'not reporting', reportAgeS: 95 })])]).line).toMatch(/WARNING - agent not reporting for 1m35s/);
  });

  it('a subscriber running degraded (its source host unreachable) warns with the reason', () => {
    const r = check([flow([component({ component: 'subscriber', degraded: 'source unreachable since 2026-01-01T00:09:00.000Z: HPM_TRANSPORT_CONNECTION: refused' })])]);
    expect(r.level).toBe(1);
    expect(r.line).toMatch(/^HPCMIRROR WARNING - subscriber degraded: source unreachable since .*refused \| /);
    expect(r.line).toMatch(/1\/1 components running|lag=/);
  });

  it('an unreachable broker is critical; with several flows every problem names its flow; 0 turns a threshold off', () => {
    const down = flow([component({})], [], { broker: { url: 'amqps://u@b:5671/', via: 'amqp', reachable: false, stages: [], error: { kind: 'refused', message: 'connection refused at b:5671' } } });
    const lagging = flow([component({ lagS: 400, pending: 1 })], [stage({})], { name: 'two' });
    const r = check([down, lagging]);
    expect(r.level).toBe(2);
    expect(r.line).toMatch(/CRITICAL - ops: broker amqps:\/\/u@b:5671\/: connection refused at b:5671; two: lag 6m40s/);
    const off = flow([component({ lagS: 10_000, pending: 1 })], [stage({})], { thresholds: { ...thresholds, lag_warn_s: 0, lag_crit_s: 0 } });
    expect(check([off]).level).toBe(0);
  });
});

describe('systemd user units', () => {
  function fakeSystemctl(answers: Record<string, { code?: number; stdout?: string; stderr?: string }>): Systemctl & { calls: string[][] } {
    const calls: string[][] = [];
    const run = (async (args: readonly string[]) => {
      calls.push([...args]);
      const a = answers[args[0]!] ?? {};
      return { code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
    }) as Systemctl & { calls: string[][] };
    run.calls = calls;
    return run;
  }

  it('uses units only with a running user manager, an installed template and the config where the unit reads it', async () => {
    const home = process.env.HOME ?? '/root';
    const run = fakeSystemctl({ 'is-system-running': { stdout: 'degraded\n', code: 1 }, 'list-unit-files': { stdout: 'hpcmirror-agent@.service disabled enabled\n' } });
    const ctx = await managerContext(run);
    expect(ctx.userManager).toBe(true);
    const target = { name: 'ops', configFile: join(home, '.config/hpcmirror/ops.yaml') };
    expect(systemdUnitFor(ctx, target, 'agent')).toBe('hpcmirror-agent@ops.service');
    expect(systemdUnitFor(ctx, { ...target, configFile: '/elsewhere/ops.yaml' }, 'agent')).toBeUndefined();
    expect(systemdUnitFor(ctx, { ...target, sandboxDir: '/sb' }, 'agent')).toBeUndefined();
    expect(await userManagerRunning(fakeSystemctl({ 'is-system-running': { stdout: 'offline\n', code: 1 } }))).toBe(false);
    expect(await userManagerRunning(fakeSystemctl({ 'is-system-running': { code: 1, stderr: 'Failed to connect to bus' } }))).toBe(false);
  });

  it('start/stop/restart and show are the systemctl --user command lines the units need', async () => {
    const run = fakeSystemctl({
      show: { stdout: 'ActiveState=active\nSubState=running\nMainPID=4242\nUnitFileState=enabled\nActiveEnterTimestamp=@1767225600\nNRestarts=2\nResult=success\n' },
      stop: { code: 5, stderr: 'Failed to stop hpcmirror-winnow@ops.service: Unit not loaded.\n' },
    });
    expect(await unitAction(run, 'start', 'hpcmirror-agent@ops.service')).toEqual({ ok: true, message: '' });
    expect(await unitAction(run, 'stop', 'hpcmirror-winnow@ops.service')).toEqual({ ok: false, message: 'Failed to stop hpcmirror-winnow@ops.service: Unit not loaded.' });
    const st = await unitState(run, 'hpcmirror-agent@ops.service');
    expect(st).toEqual({ activeState: 'active', subState: 'running', mainPid: 4242, unitFileState: 'enabled', activeSinceMs: 1767225600_000, restarts: 2, result: 'success' });
    expect(run.calls[0]).toEqual(['start', 'hpcmirror-agent@ops.service']);
    expect(run.calls[2]!.slice(0, 3)).toEqual(['show', '--timestamp=unix', 'hpcmirror-agent@ops.service']);
    expect(parseUnitShow('ActiveState=failed\nMainPID=0\nActiveEnterTimestamp=\n')).toMatchObject({ activeState: 'failed', mainPid: 0, activeSinceMs: null });
  });
});

describe('targets and secrets', () => {
  const cfgDir = join(scratch, 'configs');
  mkdirSync(cfgDir, { recursive: true });
  const base = (flow: string, extra: string) => `flow: ${flow}\nbroker: {url: "amqp://u:s3cr3t-pw@127.0.0.1:1/"}\nsource_root: /s\ndestination_root: /d\n${extra}`;
  writeFileSync(join(cfgDir, 'ops.yaml'), base('ops', 'agent: {base_url: "sftp://h/"}\nwinnow: {}\n'));
  writeFileSync(join(cfgDir, 'sub.yml'), base('ops', 'subscriber: {transport: local}\n'));
  writeFileSync(join(cfgDir, 'credentials.conf'), 'amqp://u:x@h/\n');
  const env = { HPCM_CONFIG_DIR: cfgDir };

  it('COMPONENT[/CONFIG] picks configs from the config dir; each config runs the components it has sections for', () => {
    expect(resolveTargets(undefined, {}, env).map((t) => [t.name, t.components])).toEqual([['ops', ['agent', 'winnow']], ['sub', ['subscriber']]]);
    expect(resolveTargets('winnow', {}, env).map((t) => [t.name, t.components])).toEqual([['ops', ['winnow']]]);
    expect(resolveTargets('subscriber/sub', {}, env).map((t) => [t.name, t.components])).toEqual([['sub', ['subscriber']]]);
    expect(resolveTargets(undefined, { config: join(cfgDir, 'sub.yml') }, env)[0]!.name).toBe('sub');
    expect(() => parseTargetArg('shim/ops')).toThrow(/unknown component "shim"/);
    expect(() => resolveTargets('agent/nope', {}, env)).toThrow(/no config "nope"/);
    expect(() => resolveTargets('agent/ops', { config: '/x.yaml' }, env)).toThrow(/not both/);
  });

  it('output is scrubbed of every broker password the configs hold', () => {
    const targets = resolveTargets(undefined, {}, env);
    const secrets = secretsOf(targets.map((t) => t.config));
    expect(scrubSecrets('amqp://u:s3cr3t-pw@127.0.0.1:1/ failed', secrets)).toBe('amqp://u:***@127.0.0.1:1/ failed');
  });
});
