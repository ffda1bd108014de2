import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError, HpcmError } from '@hpcmirror/core';
import { isAlive, stopProcess, tailFile } from '@hpcmirror/sandbox';
import type { ConfigSource } from '../context.js';
import { isRunning, readRunRecord, removeRunRecord, startBackground, stopBackground, type RunRecord } from '../ops/background-processes.js';
import { COMPONENTS, type Component } from '../ops/components.js';
import { resolveTargets, type FlowTarget } from '../ops/config-targets.js';
import { managerContext, systemdUnitFor, type ManagerContext } from '../ops/process-manager.js';
import { scrubSecrets, secretsOf } from '../ops/secret-scrub.js';
import { readStatusFiles, statusDirOf, type StatusFileJson } from '../ops/status-file.js';
import { systemctlUser, unitAction } from '../ops/systemd-user.js';
import { cliEntry } from '../sandbox/sandbox-configs.js';

type Action = 'start' | 'stop' | 'restart';

/** Grace between SIGTERM and SIGKILL, as the units' TimeoutStopSec. */
const STOP_TIMEOUT_MS: Record<Component, number> = { agent: 60_000, watch: 60_000, winnow: 60_000, subscriber: 120_000 };

interface Outcome { ok: boolean; text: string }

/** A component process started some other way (in a shell, in the foreground), known only from its status file. */
async function foregroundProcess(target: FlowTarget, component: Component): Promise<StatusFileJson | undefined> {
  const files = await readStatusFiles(statusDirOf(target.config));
  return files.find((f) => f.component === component && !f.stoppedAt && isAlive(f.pid, f.pidStartTime));
}

/** Waits until the new process reports "running", fails, or the time box passes (then it is still starting). */
async function awaitRunning(target: FlowTarget, record: RunRecord, waitMs: number): Promise<Outcome> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const files = await readStatusFiles(statusDirOf(target.config));
    const mine = files.find((f) => f.component === record.component && f.pid === record.pid);
    if (mine?.state === 'running') return { ok: true, text: `started, pid ${record.pid} (log ${record.logFile})` };
    if (!isRunning(record) || mine?.state === 'failed') {
      removeRunRecord(target.config, record.component);
      const why = mine?.error?.message ?? tailFile(record.logFile, 3).split('\n').pop() ?? '';
      return { ok: false, text: `exited at start${why ? `: ${why}` : ''} (log ${record.logFile})` };
    }
    if (Date.now() >= deadline) return { ok: true, text: `started, pid ${record.pid}, still starting (log ${record.logFile})` };
    await sleep(200);
  }
}

async function startOne(target: FlowTarget, component: Component, waitMs: number): Promise<Outcome> {
  const known = readRunRecord(target.config, component);
  if (isRunning(known)) return { ok: true, text: `already running, pid ${known!.pid}` };
  const fg = await foregroundProcess(target, component);
  if (fg) return { ok: true, text: `already running outside hpcmirror start, pid ${fg.pid}` };
  const record = await startBackground(target.config, component, target.configFile, { command: [process.execPath, cliEntry()] });
  return awaitRunning(target, record, waitMs);
}

async function stopOne(target: FlowTarget, component: Component): Promise<Outcome> {
  const known = readRunRecord(target.config, component);
  if (known && isRunning(known)) {
    await stopBackground(target.config, known, STOP_TIMEOUT_MS[component]);
    return { ok: true, text: `stopped (pid ${known.pid})` };
  }
  if (known) removeRunRecord(target.config, component);
  const fg = await foregroundProcess(target, component);
  if (fg) {
    await stopProcess({ name: component, pid: fg.pid, startTime: fg.pidStartTime }, { timeoutMs: STOP_TIMEOUT_MS[component] });
    return { ok: true, text: `stopped (pid ${fg.pid}, it was started outside hpcmirror start)` };
  }
  return { ok: true, text: 'not running' };
}

async function act(ctx: ManagerContext, action: Action, target: FlowTarget, component: Component, waitMs: number): Promise<Outcome> {
  const unit = systemdUnitFor(ctx, target, component);
  if (unit) {
    const r = await unitAction(ctx.systemctl, action, unit);
    return { ok: r.ok, text: r.ok ? `${action === 'stop' ? 'stopped' : `${action}ed`} (${unit})` : `systemctl --user ${action} ${unit} failed: ${r.message}` };
  }
  if (action === 'start') return startOne(target, component, waitMs);
  if (action === 'stop') return stopOne(target, component);
  const stopped = await stopOne(target, component);
  return stopped.ok ? startOne(target, component, waitMs) : stopped;
}

function register(program: Command, action: Action, description: string): void {
  program.command(action)
    .description(description)
    .argument('[component]', 'COMPONENT or COMPONENT/CONFIG (agent, winnow, subscriber; CONFIG = ~/.config/hpcmirror/CONFIG.yaml); default: all')
    .option('--config <file>', 'config file (default: every config in ~/.config/hpcmirror)')
    .option('--sandbox <dir>', 'not for start/stop: the sandbox\'s components follow `hpcmirror sandbox up|down`')
    .option('--wait <s>', 'how long start waits for a component to report "running"', '30')
    .action(async (arg: string | undefined, o: ConfigSource & { wait: string }) => {
      if (o.sandbox) throw new HpcmError('HPM_USAGE', `the sandbox's components are started and stopped by \`hpcmirror sandbox up|down --dir ${o.sandbox}\``);
      const waitS = Number(o.wait);
      if (!(waitS >= 0)) throw new HpcmError('HPM_USAGE', `--wait must be a number of seconds (got ${o.wait})`);
      const targets = resolveTargets(arg, o);
      const ctx = await managerContext(systemctlUser);
      let failed = 0;
      for (const target of targets) {
        // Data-flow order to start, the reverse to stop: consumers go before what feeds them.
        const order = COMPONENTS.filter((c) => target.components.includes(c));
        if (action === 'stop') order.reverse();
        for (const component of order) {
          let outcome: Outcome;
          try {
            outcome = await act(ctx, action, target, component, waitS * 1000);
          } catch (err) {
            outcome = { ok: false, text: describeError(err) };
          }
          if (!outcome.ok) failed++;
          process.stdout.write(scrubSecrets(`${component}/${target.name}: ${outcome.text}\n`, secretsOf([target.config])));
        }
      }
      process.exitCode = failed ? 1 : 0;
    });
}

export function registerStartStop(program: Command): void {
  register(program, 'start', 'start components: systemd user units when a user manager runs them, background processes with pid files otherwise');
  register(program, 'stop', 'stop components (SIGTERM: in-flight work is finished or handed back; SIGKILL after the units\' stop timeout)');
  register(program, 'restart', 'stop, then start components');
}
