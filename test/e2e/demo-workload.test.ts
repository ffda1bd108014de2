import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hpcmirror, REPO, SandboxUnderTest } from './cli-harness.js';
import { logTails } from './mirror-checks.js';

/** The demo's workload (scripts/demo-workload.sh), smaller, mirrored over each transport. */
for (const transport of ['sftp', 'rsync', 'local'] as const) {
  describe(`the demo workload mirrored exactly over ${transport}`, () => {
    const sb = new SandboxUnderTest(transport);
    let tarball: string;
    let writer: string;
    beforeAll(async () => {
      const inputs = join(sb.dir, 'inputs');
      mkdirSync(join(inputs, 'tree'), { recursive: true });
      for (let i = 0; i < 150; i++) writeFileSync(join(inputs, 'tree', `obs_${i}.csv`), `station,${i}\n`);
      tarball = join(inputs, 'inputs.tar');
      execFileSync('tar', ['-cf', tarball, '-C', join(inputs, 'tree'), '.']);
      writer = join(inputs, 'model-writer');
      execFileSync('gcc', ['-O2', '-o', writer, join(REPO, 'test/fixtures/model-writer.c')]);
      await sb.up();
    }, 300_000);
    afterAll(async () => { await sb.down(); }, 120_000);

    it('converges: wait returns 0, audit (with content) finds no difference', async () => {
      const run = sb.shell(`bash ${join(REPO, 'scripts/demo-workload.sh')} ${sb.src} ${tarball} ${writer} 20`);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      // rsync pays an ssh login per batch: generous on a loaded 2-core machine.
      const w = await sb.wait(600);
      if (w.code !== 0) {
        // What is stuck and why: retries, parked messages, queue depths, and the components' logs.
        const st = await hpcmirror(['status', '--sandbox', sb.dir]);
        throw new Error(`wait exited ${w.code}: ${w.stdout}${w.stderr}\n${st.stdout}${st.stderr}\n${logTails(sb, 40)}`);
      }
      expect(w.stdout + w.stderr).toMatch(/mirrored/);
      expect(w.code).toBe(0);
      const a = await sb.audit(['--checksum']);
      expect(a.differences).toEqual([]);
      expect(a.compared).toBeGreaterThan(150);
    }, 720_000);
  });
}
