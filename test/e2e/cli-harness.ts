import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(REPO, 'packages/cli/dist/bin.js');

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the built `hpcmirror` CLI the way a user does (a child process, no shim in its environment). */
export function hpcmirror(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], {
      cwd: REPO, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 << 20,
      env: { ...process.env, HPCM_SHIM: '0', LD_PRELOAD: '', ...opts.env },
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A sandbox of its own (broker, sshd, agent, winnow, subscriber) for one e2e file; stopped and removed by `down`. */
export class SandboxUnderTest {
  #dir: string | undefined;
  constructor(readonly transport: 'sftp' | 'rsync' | 'local') {}

  /** Made on first use: a file whose describe block is skipped leaves no directory behind. */
  get dir(): string {
    this.#dir ??= mkdtempSync(join(tmpdir(), `hpcm-e2e-${this.transport}-`));
    return this.#dir;
  }

  async up(): Promise<void> {
    const r = await hpcmirror(['sandbox', 'up', '--dir', this.dir, '--transport', this.transport], { timeoutMs: 240_000 });
    if (r.code !== 0) throw new Error(`sandbox up failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  }

  /** Stops everything it started and removes its directory (kept with HPCM_E2E_KEEP=1, for a look after a failure). */
  async down(): Promise<void> {
    await hpcmirror(['sandbox', 'down', '--dir', this.dir], { timeoutMs: 120_000 });
    if (!process.env.HPCM_E2E_KEEP) rmSync(this.dir, { recursive: true, force: true });
  }

  get src(): string { return join(this.dir, 'primary'); }
  get dst(): string { return join(this.dir, 'secondary'); }

  /** Runs a shell script under the shim, in the sandbox's source tree. */
  shell(script: string): CliResult {
    const r = spawnSync(process.execPath, [CLI, 'shim', 'run', '--sandbox', this.dir, '--', 'bash', '-c', script], {
      cwd: this.src, encoding: 'utf8', env: { ...process.env, HPCM_SHIM: '1' }, maxBuffer: 64 << 20,
    });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  }

  wait(timeoutS = 180): Promise<CliResult> {
    return hpcmirror(['wait', '--sandbox', this.dir, '--timeout', String(timeoutS)], { timeoutMs: (timeoutS + 60) * 1000 });
  }

  async audit(extra: string[] = []): Promise<{ compared: number; differences: { path: string; what: string }[] }> {
    const r = await hpcmirror(['audit', '--sandbox', this.dir, '--json', ...extra]);
    if (r.code > 1) throw new Error(`audit failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as { compared: number; differences: { path: string; what: string }[] };
  }
}
