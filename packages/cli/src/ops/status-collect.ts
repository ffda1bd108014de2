import { hostname } from 'node:os';
import { agentStatePaths, readAgentState, resolveAgentSettings } from '@hpcmirror/agent';
import { isAlive, isRecordAlive, readSandboxState, type ServiceRecord } from '@hpcmirror/sandbox';
import type { LoadedConfig } from '@hpcmirror/core';
import { readRunRecord } from './background-processes.js';
import { numberAt } from './component-metrics.js';
import type { Component } from './components.js';
import type { FlowTarget } from './config-targets.js';
import { systemdUnitFor, type ManagerContext } from './process-manager.js';
import { brokerView } from './queue-depths.js';
import { inspectSpool } from './spool-inspect.js';
import { statusCheck } from './status-check.js';
import { readStatusFiles, statusDirOf, type StatusFileJson } from './status-file.js';
import type { ComponentStatus, FlowStatus, Manager, ShownState, StatusReport } from './status-report.js';
import { unitState, type UnitState } from './systemd-user.js';

export interface CollectOptions {
  manager: ManagerContext;
  now?: () => number;
  /** Include each component's raw metrics() (for --json). */
  withMetrics?: boolean;
  brokerTimeoutMs?: number;
}

/** The counters whose rates lead the human view, per component. */
const HEADLINE_RATES: Record<Component, string[]> = {
  agent: ['published', 'confirmed', 'recordsRead'],
  watch: ['recordsWritten', 'recordsLost'],
  winnow: ['received', 'forwarded', 'suppressed', 'coalesced'],
  subscriber: ['counters.applied', 'counters.bytes', 'counters.received'],
};
const RETRY_COUNTER: Partial<Record<Component, string>> = { agent: 'publishRetries', winnow: 'forwardFailures', subscriber: 'counters.retried' };
const PARKED_COUNTER: Partial<Record<Component, string>> = { winnow: 'parked', subscriber: 'counters.parked' };

interface ProcessView {
  manager: Manager;
  alive: boolean;
  pid: number | null;
  startedMs: number | null;
  expected: boolean;
  failed: boolean;
  unit?: string;
  logFile?: string;
}

/** What the process manager (sandbox, systemd, pid file) knows, independent of the status file. */
async function managerView(ctx: ManagerContext, target: FlowTarget, component: Component, sandbox: { services: ServiceRecord[]; up: boolean } | undefined): Promise<ProcessView | undefined> {
  if (sandbox) {
    const r = sandbox.services.find((s) => s.name === component);
    if (!r) return undefined;
    // After `sandbox down` its components are meant to be stopped.
    return { manager: 'sandbox', alive: isRecordAlive(r), pid: r.pid, startedMs: null, expected: sandbox.up, failed: false, logFile: r.logFile };
  }
  const unit = systemdUnitFor(ctx, target, component);
  if (unit) {
    let u: UnitState;
    try {
      u = await unitState(ctx.systemctl, unit);
    } catch {
      return undefined;
    }
    const alive = u.activeState === 'active' || u.activeState === 'activating' || u.activeState === 'reloading';
    return {
      manager: 'systemd', alive, pid: u.mainPid || null, startedMs: u.activeSinceMs, unit,
      expected: alive || u.activeState === 'failed' || u.unitFileState.startsWith('enabled'),
      failed: u.activeState === 'failed',
    };
  }
  const r = readRunRecord(target.config, component);
  if (!r) return undefined;
  return { manager: 'background', alive: isRecordAlive(r), pid: r.pid, startedMs: Date.parse(r.startedAt) || null, expected: true, failed: false, logFile: r.logFile };
}

/** The watcher's metrics() (WatcherMetrics) in a few numbers. */
function watchSummary(metrics: unknown): ComponentStatus['watch'] {
  const m = metrics as { dirs?: { watches?: number; pending?: number }[]; recordsLost?: number };
  if (!Array.isArray(m.dirs)) return undefined;
  const sum = (k: 'watches' | 'pending') => m.dirs!.reduce((n, d) => n + (typeof d[k] === 'number' ? d[k]! : 0), 0);
  return { trees: m.dirs.length, watches: sum('watches'), pending: sum('pending'), recordsLost: typeof m.recordsLost === 'number' ? m.recordsLost : 0 };
}

function componentStatus(target: FlowTarget, component: Component, file: StatusFileJson | undefined, proc: ProcessView | undefined, nowMs: number, withMetrics: boolean): ComponentStatus {
  const t = target.config.status;
  const here = hostname();
  const reportAgeS = file ? Math.max(0, (nowMs - Date.parse(file.updatedAt)) / 1000) : null;
  // The status file's process: checked by pid on this host, by freshness for another host's file (shared state dir).
  const fileAlive = file !== undefined && !file.stoppedAt
    && (file.host === here ? isAlive(file.pid, file.pidStartTime) : (reportAgeS ?? Infinity) < t.stale_s);
  const fileCurrent = fileAlive && (!proc?.pid || !proc.alive || proc.pid === file.pid);
  const running = (proc?.alive ?? false) || fileAlive;
  const startedMs = fileCurrent ? Date.parse(file.startedAt) : proc?.alive ? proc.startedMs : null;
  let state: ShownState;
  if (running) {
    if (fileCurrent) state = (reportAgeS ?? 0) > t.stale_s ? 'not reporting' : file.state === 'stopped' || file.state === 'failed' ? 'stopping' : file.state;
    else state = startedMs !== null && (nowMs - startedMs) / 1000 > t.stale_s ? 'not reporting' : 'starting';
  } else {
    state = proc?.failed || file?.state === 'failed' || (file !== undefined && !file.stoppedAt) ? 'failed' : 'stopped';
  }
  const metrics = fileCurrent || (!running && file) ? file?.metrics : undefined;
  const rates: Record<string, number> = {};
  if (fileCurrent) for (const k of HEADLINE_RATES[component]) if (file.rates[k] !== undefined) rates[k] = file.rates[k]!;
  const parkedPath = PARKED_COUNTER[component];
  const guard = component === 'subscriber' && metrics
    ? (metrics as { deleteGuard?: { paused?: boolean; pausedSince?: number | null; alert?: string | null } }).deleteGuard
    : undefined;
  const watched = component === 'watch' && metrics ? watchSummary(metrics) : undefined;
  const degraded = fileCurrent && metrics ? (metrics as { degraded?: unknown }).degraded : undefined;
  const manager: Manager | null = proc?.manager ?? (fileAlive ? 'foreground' : null);
  const crashed = file !== undefined && !file.stoppedAt && !fileAlive && file.host === here;
  const error = file?.error?.message ?? (crashed ? `pid ${file.pid} exited without a clean stop` : undefined);
  return {
    component,
    ...(file?.instance !== undefined && { instance: file.instance }),
    state,
    manager,
    expected: proc?.expected ?? crashed,
    pid: running ? (fileCurrent ? file.pid : proc?.pid ?? null) : null,
    startedAt: startedMs ? new Date(startedMs).toISOString() : null,
    uptimeS: startedMs ? Math.max(0, (nowMs - startedMs) / 1000) : null,
    reportAgeS: reportAgeS === null ? null : Math.round(reportAgeS * 10) / 10,
    rates,
    lagS: fileCurrent && file.lag ? file.lag.oldestPendingS : null,
    pending: fileCurrent && file.lag ? file.lag.pending : null,
    retries: metrics && RETRY_COUNTER[component] ? numberAt(metrics, RETRY_COUNTER[component]) ?? null : null,
    parked: metrics && parkedPath ? numberAt(metrics, parkedPath) ?? null : null,
    ...(guard && fileCurrent && {
      deletes: { paused: guard.paused === true, pausedSince: guard.pausedSince ? new Date(guard.pausedSince).toISOString() : null, alert: guard.alert ?? null },
    }),
    ...(typeof degraded === 'string' && { degraded }),
    ...(watched && { watch: watched }),
    ...(proc?.unit && { unit: proc.unit }),
    ...(proc?.logFile && { logFile: proc.logFile }),
    ...(fileCurrent && file.metricsUrl && { metricsUrl: file.metricsUrl }),
    ...(error && !running && { error }),
    ...(withMetrics && metrics !== undefined && { metrics }),
  };
}

async function spoolOf(cfg: LoadedConfig, nowMs: number) {
  const settings = resolveAgentSettings(cfg);
  const state = await readAgentState(agentStatePaths(cfg).agentState).catch(() => undefined);
  return inspectSpool(settings.spoolDir, settings.agent.spool_max_bytes, state, cfg.status.spool_loss_window_s, nowMs);
}

async function flowStatus(target: FlowTarget, o: CollectOptions, nowMs: number): Promise<FlowStatus> {
  const cfg = target.config;
  const sandbox = target.sandboxDir ? readSandboxState(target.sandboxDir) : undefined;
  const files = await readStatusFiles(statusDirOf(cfg));
  const hasAgent = target.components.includes('agent') && cfg.agent !== undefined;
  const [broker, components] = await Promise.all([
    brokerView(cfg, {
      managementUrl: cfg.status.management_url ?? sandbox?.mgmtUrl ?? undefined,
      progressHosts: hasAgent ? [resolveAgentSettings(cfg).host] : [],
      ...(o.brokerTimeoutMs !== undefined && { timeoutMs: o.brokerTimeoutMs }),
    }),
    Promise.all(target.components.map(async (component) => {
      const proc = await managerView(o.manager, target, component, sandbox && { services: sandbox.services, up: sandbox.stoppedAt === null });
      const mine = files.filter((f) => f.component === component);
      const shown = (mine.length ? mine : [undefined]).map((f) => componentStatus(target, component, f, proc, nowMs, o.withMetrics ?? false));
      if (component === 'agent' && hasAgent) {
        const spool = await spoolOf(cfg, nowMs).catch(() => undefined);
        for (const s of shown) if (spool) s.spool = spool;
      }
      return shown;
    })),
  ]);
  return {
    name: target.name,
    flow: cfg.flow,
    configFile: target.configFile,
    ...(target.sandboxDir && { sandboxDir: target.sandboxDir }),
    broker,
    components: components.flat(),
    thresholds: cfg.status,
  };
}

/** Everything `status` shows, for every target, with the --check verdict. */
export async function collectStatus(targets: FlowTarget[], o: CollectOptions): Promise<StatusReport> {
  const nowMs = (o.now ?? Date.now)();
  const flows: FlowStatus[] = [];
  for (const t of targets) flows.push(await flowStatus(t, o, nowMs));
  return { generatedAt: new Date(nowMs).toISOString(), host: hostname(), flows, check: statusCheck(flows, nowMs) };
}
