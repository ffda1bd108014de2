import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

/** Child processes run the compiled package: bring dist up to date (incremental, quick when it is). */
export function buildAgent(): void {
  execFileSync(`${repo}node_modules/.bin/tsc`, ['-b', 'packages/agent'], { cwd: repo, stdio: 'pipe' });
}

export const RUN_AGENT = fileURLToPath(new URL('./fixtures/run-agent.mjs', import.meta.url));
