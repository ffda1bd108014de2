import { execFile } from 'node:child_process';
import type { Component } from './components.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `systemctl --user ARGS` (injectable so the command lines can be tested without a user manager). */
export type Systemctl = (args: readonly string[]) => Promise<CommandResult>;

export const systemctlUser: Systemctl = (args) => new Promise((resolve) => {
  execFile('systemctl', ['--user', ...args], { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
    const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
    resolve({ code, stdout, stderr: stderr || (err && typeof err.code !== 'number' ? err.message : '') });
  });
});

/** deploy/systemd: one template per component, the config's name as instance. */
export function unitName(component: Component, config: string): string {
  return `hpcmirror-${component}@${config}.service`;
}

/** Names systemd accepts as an instance without escaping. */
export const PLAIN_INSTANCE = /^[A-Za-z0-9_.-]+$/;

/**
 * A user manager is there to talk to: `is-system-running` answers (running, degraded, starting...)
 * rather than "offline" or a bus error.
 */
export async function userManagerRunning(run: Systemctl): Promise<boolean> {
  const r = await run(['is-system-running']);
  return /^(running|degraded|starting|initializing|maintenance)\b/.test(r.stdout.trim());
}

/** The component's unit template is installed for this user. */
export async function unitTemplateKnown(run: Systemctl, component: Component): Promise<boolean> {
  const r = await run(['list-unit-files', '--no-legend', `hpcmirror-${component}@.service`]);
  return r.code === 0 && r.stdout.includes(`hpcmirror-${component}@.service`);
}

export interface UnitState {
  activeState: string;
  subState: string;
  mainPid: number;
  /** UnitFileState of the instance: enabled, disabled... */
  unitFileState: string;
  /** ms since the epoch the unit became active, or null. */
  activeSinceMs: number | null;
  restarts: number;
  result: string;
}

const UNIT_PROPS = ['ActiveState', 'SubState', 'MainPID', 'UnitFileState', 'ActiveEnterTimestamp', 'NRestarts', 'Result'];

export function parseUnitShow(text: string): UnitState {
  const p = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) p.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  // `--timestamp=unix` (systemd >= 251) gives @SECONDS; older ones a local date we can still try.
  const ts = p.get('ActiveEnterTimestamp') ?? '';
  const since = ts.startsWith('@') ? Number(ts.slice(1)) * 1000 : Date.parse(ts.replace(/^\w{3} /, ''));
  return {
    activeState: p.get('ActiveState') ?? 'unknown',
    subState: p.get('SubState') ?? 'unknown',
    mainPid: Number(p.get('MainPID') ?? 0) || 0,
    unitFileState: p.get('UnitFileState') ?? '',
    activeSinceMs: Number.isFinite(since) && since > 0 ? since : null,
    restarts: Number(p.get('NRestarts') ?? 0) || 0,
    result: p.get('Result') ?? '',
  };
}

export async function unitState(run: Systemctl, unit: string): Promise<UnitState> {
  const r = await run(['show', '--timestamp=unix', unit, ...UNIT_PROPS.map((x) => `--property=${x}`)]);
  return parseUnitShow(r.stdout);
}

/** start, stop or restart one unit; resolves with systemctl's error text on failure. */
export async function unitAction(run: Systemctl, action: 'start' | 'stop' | 'restart', unit: string): Promise<{ ok: boolean; message: string }> {
  const r = await run([action, unit]);
  return { ok: r.code === 0, message: (r.stderr || r.stdout).trim().split('\n')[0] ?? '' };
}
