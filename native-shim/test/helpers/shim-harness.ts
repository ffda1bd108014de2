/**
 * Runs real programs with and without the real compiled shim and decodes what it spooled.
 */
import { execFile, execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeRecords, type SpoolRecord } from '../../../packages/agent/src/spool/record.js';

export const SHIM_DIR = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const PRELOAD = `${SHIM_DIR}/build/$LIB/libhpcmshim.so`;
const execFileP = promisify(execFile);

/** Builds the shim (make is a no-op when it is up to date). */
export function buildShim(): void {
  execFileSync('make', ['-s', '-C', SHIM_DIR], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Compiles test/progs/<name>.c into dir; extra gcc flags allowed (-static, -m32). */
export async function compileProg(dir: string, name: string, out = name, flags: string[] = []): Promise<string> {
  const bin = join(dir, out);
  await execFileP('gcc', ['-O1', '-o', bin, join(SHIM_DIR, 'test', 'progs', `${name}.c`), ...flags, '-pthread']);
  return bin;
}

export interface Sandbox {
  base: string;
  /** the mirrored root (HPCM_ROOTS) */
  root: string;
  /** outside every root */
  outside: string;
  spool: string;
  cleanup(): void;
}

export function makeSandbox(tag: string): Sandbox {
  const base = mkdtempSync(join(tmpdir(), `hpcm-shim-${tag}-`));
  const sb = { base, root: join(base, 'root'), outside: join(base, 'outside'), spool: join(base, 'spool') };
  mkdirSync(sb.root);
  mkdirSync(sb.outside);
  mkdirSync(sb.spool, { mode: 0o700 });
  chmodSync(sb.spool, 0o700);
  return { ...sb, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** Empties root and outside again so a second run sees the same starting state. */
export function resetTrees(sb: Sandbox): void {
  for (const d of [sb.root, sb.outside]) {
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
  }
}

const cleanEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HPCM_') && k !== 'LD_PRELOAD') env[k] = v;
  return { ...env, LC_ALL: 'C', TZ: 'UTC' };
};

export function shimEnv(sb: Sandbox, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...cleanEnv(),
    LD_PRELOAD: PRELOAD,
    HPCM_ROOTS: sb.root,
    HPCM_SPOOL_DIR: sb.spool,
    HPCM_REJECT: '*.tmp',
    HPCM_DEBUG_LOG: join(sb.base, 'shim-debug.log'),
    ...extra,
  };
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: SpawnOptions & { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('latin1').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
    child.stdin!.on('error', () => {}); // a program that never reads stdin may exit first
    child.stdin!.end(opts.input ?? '');
  });
}

/** Runs a scenario in the sandbox without, then (trees reset) with the shim. */
export async function runBoth(
  sb: Sandbox,
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; prepare?: () => void; input?: string } = {},
): Promise<{ plain: RunResult; shimmed: RunResult; records: SpoolRecord[] }> {
  resetTrees(sb);
  opts.prepare?.();
  const plain = await run(cmd, args, { cwd: opts.cwd ?? sb.root, env: { ...cleanEnv(), ...opts.env }, input: opts.input });
  resetTrees(sb);
  clearSpool(sb);
  opts.prepare?.();
  const shimmed = await run(cmd, args, { cwd: opts.cwd ?? sb.root, env: { ...shimEnv(sb), ...opts.env }, input: opts.input });
  return { plain, shimmed, records: readSpool(sb) };
}

export function clearSpool(sb: Sandbox): void {
  for (const f of readdirSync(sb.spool)) rmSync(join(sb.spool, f), { force: true });
}

/** Every record in every segment, in segment order then file order; fails on corrupt bytes. */
export function readSpool(sb: Sandbox): SpoolRecord[] {
  const out: SpoolRecord[] = [];
  for (const f of readdirSync(sb.spool).filter((n) => n.endsWith('.seg')).sort()) {
    const buf = readFileSync(join(sb.spool, f));
    const r = decodeRecords(buf, 0, { final: true });
    if (r.skipped) throw new Error(`${f}: ${r.skipped} corrupt stretches`);
    out.push(...r.records);
  }
  return out;
}

/** path relative to the root (latin1, so any byte survives), or the absolute path if outside */
export const rel = (sb: Sandbox, p: Buffer | undefined): string => {
  const s = (p ?? Buffer.alloc(0)).toString('latin1');
  return s.startsWith(`${sb.root}/`) ? s.slice(sb.root.length + 1) : s;
};

/** "OP relpath[ <- relpath2]" lines for readable assertions */
export const summary = (sb: Sandbox, recs: SpoolRecord[]): string[] =>
  recs.map((r) => `${r.op} ${rel(sb, r.path)}${r.path2 ? ` <- ${rel(sb, r.path2)}` : ''}`.trimEnd());
