import { mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stateDirFor, type Config } from '@hpcmirror/core';
import { isRecordAlive, spawnDetached, stopProcess, type ProcessRecord } from '@hpcmirror/sandbox';
import { componentLabel, type Component } from './components.js';

/**
 * Components run as plain background processes where no systemd user manager is available:
 * `<state_dir>/run/<component>.pid` (the pid, for `kill $(cat ...)`) and `<component>.json` (pid with
 * its start time, so a later process reusing the pid is never signalled, the command and the log).
 */
export interface RunRecord extends ProcessRecord {
  component: Component;
  configFile: string;
  argv: string[];
  logFile: string;
  startedAt: string;
}

export function runDirOf(cfg: Pick<Config, 'state_dir' | 'flow'>): string {
  return join(resolve(stateDirFor(cfg)), 'run');
}

export function logDirOf(cfg: Pick<Config, 'state_dir' | 'flow'>): string {
  return join(resolve(stateDirFor(cfg)), 'logs');
}

export function readRunRecord(cfg: Pick<Config, 'state_dir' | 'flow'>, component: Component): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(runDirOf(cfg), `${componentLabel(component)}.json`), 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

function writeRunRecord(cfg: Pick<Config, 'state_dir' | 'flow'>, record: RunRecord): void {
  const dir = runDirOf(cfg);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const base = join(dir, componentLabel(record.component));
  writeFileSync(`${base}.json.tmp`, `${JSON.stringify(record, null, 1)}\n`, { mode: 0o600 });
  renameSync(`${base}.json.tmp`, `${base}.json`);
  writeFileSync(`${base}.pid`, `${record.pid}\n`, { mode: 0o600 });
}

export function removeRunRecord(cfg: Pick<Config, 'state_dir' | 'flow'>, component: Component): void {
  const base = join(runDirOf(cfg), componentLabel(component));
  rmSync(`${base}.json`, { force: true });
  rmSync(`${base}.pid`, { force: true });
}

export interface StartBackgroundOptions {
  /** node and the CLI entry, e.g. [process.execPath, .../dist/bin.js]. */
  command: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts `hpcmirror <component> --config F` detached (own session, survives the caller), with the
 * shim off as in the units (HPCM_SHIM=0, no LD_PRELOAD), output appended to `<state_dir>/logs/<component>.log`.
 */
export async function startBackground(cfg: Pick<Config, 'state_dir' | 'flow'>, component: Component, configFile: string, o: StartBackgroundOptions): Promise<RunRecord> {
  const argv = [...o.command, component, '--config', configFile];
  const logFile = join(logDirOf(cfg), `${componentLabel(component)}.log`);
  mkdirSync(logDirOf(cfg), { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = { ...(o.env ?? process.env), HPCM_SHIM: '0' };
  delete env.LD_PRELOAD;
  const proc = await spawnDetached({ name: componentLabel(component), argv, env, logFile });
  const record: RunRecord = { ...proc, component, configFile, argv, logFile, startedAt: new Date().toISOString() };
  writeRunRecord(cfg, record);
  return record;
}

export function isRunning(record: ProcessRecord | undefined): boolean {
  return record !== undefined && isRecordAlive(record);
}

/** SIGTERM (the component finishes or hands back its work), SIGKILL after `timeoutMs`; forgets the record. */
export async function stopBackground(cfg: Pick<Config, 'state_dir' | 'flow'>, record: RunRecord, timeoutMs: number): Promise<void> {
  await stopProcess(record, { timeoutMs });
  removeRunRecord(cfg, record.component);
}
