/**
 * Starting and stopping one flow's components for failover and failback: in a sandbox, as services
 * recorded in DIR/sandbox.json (so `sandbox down` stops them too); otherwise as the background
 * processes `hpcmirror start|stop` manages (pid records under the flow's state_dir).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HpcmError, type LoadedConfig } from '@hpcmirror/core';
import {
  isRecordAlive, readSandboxState, startService, stopProcess, tailFile, writeSandboxState, type ServiceRecord,
} from '@hpcmirror/sandbox';
import { isRunning, readRunRecord, startBackground, stopBackground } from '../ops/background-processes.js';
import type { Component } from '../ops/components.js';
import { readStatusFiles, statusDirOf } from '../ops/status-file.js';
import { cliEntry } from '../sandbox/sandbox-configs.js';

export interface FlowServices {
  /** Stops the component if it runs; resolves once it is gone (it hands its unacked messages back). */
  stop(component: Component): Promise<'stopped' | 'not running'>;
  /** Starts the component unless it runs; resolves once it reports "running". */
  start(component: Component): Promise<'started' | 'already running'>;
  isRunning(component: Component): boolean;
}

const STOP_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 120_000;

async function awaitRunning(cfg: LoadedConfig, component: Component, pid: number, alive: () => boolean, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const files = await readStatusFiles(statusDirOf(cfg));
    const mine = files.find((f) => f.component === component && f.pid === pid);
    if (mine?.state === 'running') return;
    if (!alive() || mine?.state === 'failed') {
      throw new HpcmError('HPM_LIFECYCLE_TIMEOUT', `${component} of flow ${cfg.flow} exited at start: ${mine?.error?.message ?? tailFile(logFile, 3)}`);
    }
    if (Date.now() >= deadline) throw new HpcmError('HPM_LIFECYCLE_TIMEOUT', `${component} of flow ${cfg.flow} did not report running within ${READY_TIMEOUT_MS / 1000} s (log ${logFile})`);
    await sleep(200);
  }
}

/** The sandbox's services for one of its flows: the forward flow's are `agent`, ...; the reverse flow's `reverse-agent`, .... */
export function sandboxFlowServices(dir: string, cfg: LoadedConfig, configFile: string, namePrefix: string): FlowServices {
  const nameOf = (c: Component): string => `${namePrefix}${c}`;
  const state = () => {
    const s = readSandboxState(dir);
    if (!s) throw new HpcmError('HPM_CONFIG_NOT_FOUND', `no sandbox in ${dir}`);
    return s;
  };
  const recordOf = (c: Component): ServiceRecord | undefined => state().services.find((r) => r.name === nameOf(c));
  return {
    isRunning: (c) => {
      const r = recordOf(c);
      return r !== undefined && isRecordAlive(r);
    },
    async stop(c) {
      const r = recordOf(c);
      if (!r || !isRecordAlive(r)) return 'not running';
      await stopProcess(r, { timeoutMs: STOP_TIMEOUT_MS });
      const s = state();
      delete s.pids[r.name];
      writeSandboxState(s);
      return 'stopped';
    },
    async start(c) {
      const old = recordOf(c);
      if (old && isRecordAlive(old)) return 'already running';
      const name = nameOf(c);
      const record = await startService({
        name,
        argv: old?.argv ?? [process.execPath, cliEntry(), c, '--config', configFile],
        env: { HPCM_SHIM: '0', LD_PRELOAD: '' },
        cwd: dir,
        logFile: old?.logFile ?? join(dir, 'logs', `${name}.log`),
        stopTimeoutMs: 15_000,
      }, { ...process.env, HPCMIRROR_SANDBOX: dir });
      const s = state();
      s.services = [...s.services.filter((x) => x.name !== name), record];
      s.pids[name] = record.pid;
      writeSandboxState(s);
      await awaitRunning(cfg, c, record.pid, () => isRecordAlive(record), record.logFile);
      return 'started';
    },
  };
}

/** The components as `hpcmirror start|stop` runs them without systemd: background processes with pid records. */
export function backgroundFlowServices(cfg: LoadedConfig, configFile: string): FlowServices {
  return {
    isRunning: (c) => isRunning(readRunRecord(cfg, c)),
    async stop(c) {
      const r = readRunRecord(cfg, c);
      if (!r || !isRunning(r)) return 'not running';
      await stopBackground(cfg, r, STOP_TIMEOUT_MS);
      return 'stopped';
    },
    async start(c) {
      if (isRunning(readRunRecord(cfg, c))) return 'already running';
      const r = await startBackground(cfg, c, configFile, { command: [process.execPath, cliEntry()] });
      await awaitRunning(cfg, c, r.pid, () => isRunning(r), r.logFile);
      return 'started';
    },
  };
}
