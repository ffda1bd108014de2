import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  isRecordAlive,
  readSandboxState,
  spawnDetached,
  waitForExit,
  writeSandboxState,
} from '../../packages/sandbox/src/index.js';
import { CLI, REPO, type CliResult, type SandboxUnderTest } from './cli-harness.js';

export type Difference = { path: string; what: string; source?: string; destination?: string };
export type ServiceName = 'agent' | 'winnow' | 'subscriber';

const FIXTURES = join(REPO, 'test/fixtures');

/** A command started under the shim (`hpcmirror shim run`), in the background. */
export interface ShimProcess {
  child: ChildProcess;
  done: Promise<CliResult>;
  /** Signals the whole process group: `shim run` and the program it started (its child). */
  kill(signal: NodeJS.Signals): void;
}

/** Runs argv under the shim of the sandbox, as a user's job would, without blocking the test. */
export function shimSpawn(sb: SandboxUnderTest, argv: string[], cwd = sb.src): ShimProcess {
  const child = spawn(process.execPath, [CLI, 'shim', 'run', '--sandbox', sb.dir, '--', ...argv], {
    cwd, env: { ...process.env, HPCM_SHIM: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.on('error', (err) => resolve({ code: 1, stdout, stderr: `${stderr}${err.message}` }));
  });
  const kill = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  return { child, done, kill };
}

/** Runs a bash script under the shim in src/NAME (created first); throws on a non-zero exit or any stderr. */
export async function shellInCase(sb: SandboxUnderTest, name: string, script: string): Promise<void> {
  const r = await shimSpawn(sb, ['bash', '-c', `set -euo pipefail; mkdir -p ${name}; cd ${name}\n${script}`]).done;
  if (r.code !== 0 || r.stderr !== '') throw new Error(`script in ${name} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
}

/** Compiles the C fuzz driver into DIR (outside the mirrored tree); returns its path. */
export function buildFuzzDriver(dir: string): string {
  const out = join(dir, 'fuzz-ops');
  execFileSync('gcc', ['-O2', '-pthread', '-o', out, join(FIXTURES, 'fuzz-ops.c')]);
  return out;
}

export interface FuzzRun {
  seed: number;
  /** What each driver printed (operations that took effect). */
  outputs: string[];
}

/**
 * Several writers at once on one small name set under ROOT, each drawing its sequence from SEED:
 * two python3 processes, one bash process with coreutils, one C process with threads. OPS in all.
 */
export async function runFuzz(sb: SandboxUnderTest, cDriver: string, root: string, seed: number, ops: number): Promise<FuzzRun> {
  const share = (part: number) => String(Math.max(1, Math.round(ops * part)));
  const drivers: string[][] = [
    ['python3', join(FIXTURES, 'fuzz-ops.py'), root, String(seed * 10 + 1), share(0.25)],
    ['python3', join(FIXTURES, 'fuzz-ops.py'), root, String(seed * 10 + 2), share(0.25)],
    ['bash', join(FIXTURES, 'fuzz-ops.sh'), root, String(seed * 10 + 3), share(0.15)],
    [cDriver, root, String(seed * 10 + 4), share(0.35), '3'],
  ];
  const results = await Promise.all(drivers.map((argv) => shimSpawn(sb, argv).done));
  results.forEach((r, i) => {
    if (r.code !== 0 || r.stderr !== '') {
      throw new Error(`fuzz driver ${drivers[i]!.slice(0, 2).join(' ')} (seed ${seed}) failed with ${r.code}:\n${r.stdout}\n${r.stderr}`);
    }
  });
  return { seed, outputs: results.map((r) => r.stdout.trim()) };
}

/** Excluded names (`reject: ['*.tmp']` in the sandbox config) are on the source only, by design. */
const excluded = (d: Difference) => d.what === 'missing' && /\.tmp$/.test(d.path);

/** Differences under PREFIX (a subdirectory of the mirrored root), from `audit --json [--checksum]`. */
export async function differencesUnder(sb: SandboxUnderTest, prefix: string, checksum = true): Promise<Difference[]> {
  const a = await sb.audit(checksum ? ['--checksum'] : []);
  return (a.differences as Difference[]).filter((d) => (d.path === prefix || d.path.startsWith(`${prefix}/`)) && !excluded(d));
}

/** The last lines of each component log, warnings and errors first: enough to start debugging. */
export function logTails(sb: SandboxUnderTest, lines = 25): string {
  const dir = join(sb.dir, 'logs');
  if (!existsSync(dir)) return '(no logs)';
  return readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => {
    const all = readFileSync(join(dir, f), 'utf8').trimEnd().split('\n');
    const bad = all.filter((l) => /"level":(40|50|60)/.test(l)).slice(-lines);
    return `--- ${f}: last warnings/errors\n${bad.join('\n')}\n--- ${f}: last lines\n${all.slice(-lines).join('\n')}`;
  }).join('\n');
}

/** Whether a component fell back to SFTP stat (no remote helper): worth knowing when a case fails. */
export function helperFallbacks(sb: SandboxUnderTest): string[] {
  const dir = join(sb.dir, 'logs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n')
    .filter((l) => l.includes('remote helper unavailable')).map((l) => `${f}: ${l}`));
}

/**
 * `wait`, then audit with content under PREFIX. When something differs, the report says so with the
 * replay hint, waits, audits again (to tell a slow mirror from a wrong one) and adds the log tails.
 */
export async function expectConverged(sb: SandboxUnderTest, prefix: string, replay: string, waitS = 300): Promise<void> {
  const began = Date.now();
  const w = await sb.wait(waitS);
  const waited = Date.now();
  const diffs = await differencesUnder(sb, prefix);
  if (process.env.HPCM_E2E_TIMES) process.stdout.write(`${prefix}: wait ${(waited - began) / 1000} s, audit ${(Date.now() - waited) / 1000} s (${replay})\n`);
  if (w.code === 0 && diffs.length === 0) return;
  await sleep(20_000);
  const later = await differencesUnder(sb, prefix);
  const show = (ds: Difference[]) => ds.slice(0, 60).map((d) => `  ${d.what.padEnd(8)} ${d.path}${d.source !== undefined ? `  (source ${d.source}, destination ${d.destination ?? '-'})` : ''}`).join('\n');
  const fallbacks = helperFallbacks(sb);
  throw new Error([
    `NOT CONVERGED under ${prefix}. Replay: ${replay}`,
    `wait exited ${w.code}: ${(w.stdout + w.stderr).trim()}`,
    `${diffs.length} differences right after wait:\n${show(diffs)}`,
    `${later.length} differences 20 s later:\n${show(later)}`,
    fallbacks.length ? `remote helper fallbacks:\n${fallbacks.join('\n')}` : 'remote helper in use throughout',
    logTails(sb),
  ].join('\n'));
}

/**
 * Bytes the shim has appended to the sandbox's spool since this was made (segments the agent deletes
 * meanwhile keep what they had counted): how far the writers have got, in real time.
 */
export function spoolGrowth(sb: SandboxUnderTest): () => number {
  const dir = join(sb.dir, 'spool');
  const seen = new Map<string, number>();
  const sizes = () => readdirSync(dir).filter((f) => f.endsWith('.seg'))
    .map((f) => [f, statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0] as const);
  for (const [f, size] of sizes()) seen.set(f, size);
  let grown = 0;
  return () => {
    for (const [f, size] of sizes()) {
      grown += Math.max(0, size - (seen.get(f) ?? 0));
      seen.set(f, Math.max(size, seen.get(f) ?? 0));
    }
    return grown;
  };
}

/** SIGKILLs one component of the sandbox (by the pid recorded for it); resolves once it is gone. */
export async function killService(sb: SandboxUnderTest, name: ServiceName): Promise<number> {
  const state = readSandboxState(sb.dir)!;
  const record = state.services.find((s) => s.name === name);
  if (!record || !isRecordAlive(record)) throw new Error(`${name} is not running in ${sb.dir}`);
  process.kill(record.pid, 'SIGKILL');
  if (!(await waitForExit(record, 30_000))) throw new Error(`${name} (pid ${record.pid}) survived SIGKILL`);
  return record.pid;
}

/**
 * Starts a killed component again as the sandbox started it (same argv, environment, cwd and log
 * file), and records the new pid in sandbox.json so that `sandbox down` stops it. Nothing else changes:
 * broker, sshd, the other components and all state on disk are as the crash left them.
 */
export async function restartService(sb: SandboxUnderTest, name: ServiceName): Promise<number> {
  const state = readSandboxState(sb.dir)!;
  const i = state.services.findIndex((s) => s.name === name);
  const old = state.services[i];
  if (!old) throw new Error(`no ${name} in ${sb.dir}/sandbox.json`);
  if (isRecordAlive(old)) throw new Error(`${name} (pid ${old.pid}) is still running`);
  const record = await spawnDetached({
    name, argv: old.argv, cwd: sb.dir, logFile: old.logFile,
    env: { ...process.env, HPCMIRROR_SANDBOX: sb.dir, HPCM_SHIM: '0', LD_PRELOAD: '' },
  });
  state.services[i] = { ...old, pid: record.pid, startTime: record.startTime };
  state.pids[name] = record.pid;
  writeSandboxState(state);
  // Started means ready for the sandbox too; one that dies at once (a stale lock...) must fail here.
  await sleep(500);
  if (!isRecordAlive(record)) throw new Error(`${name} exited right after the restart:\n${logTails(sb, 15)}`);
  return record.pid;
}

/** HPCM_FUZZ_SEED: one seed, a comma list, or a range `5000-5099` (long hunts for rare races). */
export function parseSeeds(spec: string): number[] {
  return spec.split(',').flatMap((part) => {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(part);
    if (!m) return [Number(part)];
    const [from, to] = [Number(m[1]), Number(m[2])];
    return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
  });
}
