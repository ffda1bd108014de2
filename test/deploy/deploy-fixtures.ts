import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** deploy/ of this checkout. */
export const DEPLOY_DIR = fileURLToPath(new URL('../../deploy/', import.meta.url));

/** A plain PATH, so nothing of the test runner's environment leaks into the shells under test. */
export const PLAIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(file: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(file, args, {
    encoding: 'utf8',
    env: options.env ?? { PATH: PLAIN_PATH },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The absolute path of a tool, or an error telling which Debian package provides it. */
export function requireTool(candidates: readonly string[], debianPackage: string): string {
  for (const c of candidates) {
    if (c.startsWith('/')) {
      if (existsSync(c)) return c;
      continue;
    }
    const found = run('/bin/sh', ['-c', 'command -v "$1"', 'sh', c]);
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  throw new Error(
    `${candidates[0]} not found: the deploy tests need the Debian package "${debianPackage}" ` +
      `(apt-get install -y ${debianPackage}; scripts/setup.sh installs it)`,
  );
}
