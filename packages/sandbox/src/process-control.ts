import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxError } from './errors.js';

/**
 * A process the sandbox started. `startTime` (clock ticks since boot, from /proc) guards against pid
 * reuse: a record only matches the process it was written for, so `down` never signals a stranger.
 */
export interface ProcessRecord {
  name: string;
  pid: number;
  startTime: number | null;
}

export interface SpawnDetachedOptions {
  name: string;
  argv: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
}

interface ProcStat {
  state: string;
  pgid: number;
  startTime: number;
}

function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name sits in parentheses and may itself contain spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', pgid: Number(fields[2]), startTime: Number(fields[19]) };
}

export function processStartTime(pid: number): number | null {
  return readProcStat(pid)?.startTime ?? null;
}

/** Alive means: exists, is not a zombie, and (when given) started at `startTime`. */
export function isAlive(pid: number, startTime?: number | null): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = readProcStat(pid);
  if (stat === null || stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || startTime === null || stat.startTime === startTime;
}

export function isRecordAlive(record: ProcessRecord): boolean {
  return isAlive(record.pid, record.startTime);
}

export function recordFor(name: string, pid: number): ProcessRecord {
  return { name, pid, startTime: processStartTime(pid) };
}

/**
 * Starts a process in its own session (so it outlives the caller and a terminal's Ctrl-C does not
 * reach it) with output appended to a log file. Resolves once the exec succeeded.
 */
export async function spawnDetached(options: SpawnDetachedOptions): Promise<ProcessRecord> {
  const [file, ...args] = options.argv;
  if (file === undefined) throw new SandboxError(options.name, `${options.name}: empty command line`);
  mkdirSync(dirname(options.logFile), { recursive: true });
  const out = openSync(options.logFile, 'a');
  try {
    const child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', out, out],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    }).catch((cause: unknown) => {
      throw new SandboxError(options.name, `${options.name}: cannot start ${file}: ${(cause as Error).message}`, { cause });
    });
    child.unref();
    const pid = child.pid as number;
    return { name: options.name, pid, startTime: processStartTime(pid) };
  } finally {
    closeSync(out);
  }
}

/** Resolves true once the process is gone (or a zombie), false when `timeoutMs` passed first. */
export async function waitForExit(record: Pick<ProcessRecord, 'pid' | 'startTime'>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(record.pid, record.startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export function signalRecord(record: ProcessRecord, sig: NodeJS.Signals): boolean {
  if (!isRecordAlive(record)) return false;
  signal(record.pid, sig);
  return true;
}

export interface StopProcessOptions {
  /** Grace period after the first signal before SIGKILL. */
  timeoutMs?: number;
  signal?: NodeJS.Signals;
  /** Also SIGKILL the record's process group (helpers the process forked) at the end. */
  group?: boolean;
}

/** SIGTERM (or `signal`), wait, then SIGKILL. Resolves once the process is gone; idempotent. */
export async function stopProcess(record: ProcessRecord, options: StopProcessOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (isRecordAlive(record)) {
    // A paused (SIGSTOPped) process would hold SIGTERM pending forever.
    signal(record.pid, 'SIGCONT');
    signal(record.pid, options.signal ?? 'SIGTERM');
    if (!(await waitForExit(record, timeoutMs))) {
      signal(record.pid, 'SIGKILL');
      if (!(await waitForExit(record, 5_000))) {
        throw new SandboxError(record.name, `${record.name} (pid ${record.pid}) survived SIGKILL`);
      }
    }
  }
  if (options.group === true) killGroup(record.pid);
}

/** SIGKILLs what is left of a process group led by `pgid` (a detached process's helpers). */
export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ESRCH' && code !== 'EPERM') throw err;
  }
}

/** The last `lines` lines of a log file, for error messages; empty when unreadable. */
export function tailFile(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Last-resort stop for signal and exit handlers, where nothing async runs any more: SIGTERM all,
 * wait up to `graceMs`, SIGKILL the rest. Records are taken in the order given.
 */
export function stopProcessesSync(records: readonly ProcessRecord[], graceMs = 3_000): void {
  const alive = records.filter(isRecordAlive);
  for (const record of alive) {
    signal(record.pid, 'SIGCONT');
    signal(record.pid, 'SIGTERM');
  }
  const deadline = Date.now() + graceMs;
  while (alive.some(isRecordAlive) && Date.now() < deadline) sleepSync(25);
  for (const record of alive) if (isRecordAlive(record)) signal(record.pid, 'SIGKILL');
}
