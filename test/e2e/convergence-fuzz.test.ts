import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { SandboxUnderTest } from './cli-harness.js';
import { buildFuzzDriver, expectConverged, parseSeeds, runFuzz, shellInCase } from './mirror-checks.js';

/**
 * The promise (semantics.md): under any interleaving of writes, renames, links and removes from any
 * number of processes, once the source is quiet and the queues are drained the trees are identical.
 * Several writers at once (python3, bash with coreutils, a threaded C program) do random operations on
 * a small name set for a fixed seed; then `wait`; then audit with content: no difference.
 *
 * Replay one seed: HPCM_FUZZ_SEED=<seed> npx vitest run test/e2e/convergence-fuzz.test.ts
 * Many seeds:      HPCM_FUZZ_SEED=5000-5099 (or a comma list), one sandbox for all of them
 * Long run:        HPCM_FUZZ_OPS=100000 (operations per seed, shared by the writers)
 */
const OPS = Number(process.env.HPCM_FUZZ_OPS ?? 400);
const SEEDS = process.env.HPCM_FUZZ_SEED ? parseSeeds(process.env.HPCM_FUZZ_SEED) : [1101, 2202, 3303];
// A long run spends most of its time in the writers and in the mirror catching up afterwards.
const WAIT_S = Math.max(300, Math.ceil(OPS / 50));

describe('convergence fuzz: concurrent random operations, then wait, then audit', () => {
  const sb = new SandboxUnderTest('sftp');
  let driver: string;
  beforeAll(async () => {
    const bin = join(sb.dir, 'bin');
    mkdirSync(bin);
    driver = buildFuzzDriver(bin);
    await sb.up();
  }, 300_000);
  afterAll(async () => {
    await sb.down();
  }, 120_000);

  for (const seed of SEEDS) {
    it(`seed ${seed}: ${OPS} operations by 4 writers converge`, async () => {
      const root = `fuzz-${seed}`;
      await shellInCase(sb, root, 'true');
      const run = await runFuzz(sb, driver, join(sb.src, root), seed, OPS);
      process.stdout.write(`fuzz seed ${seed}:\n  ${run.outputs.join('\n  ')}\n`);
      await expectConverged(sb, root, `HPCM_FUZZ_SEED=${seed} HPCM_FUZZ_OPS=${OPS} npx vitest run test/e2e/convergence-fuzz.test.ts`, WAIT_S);
    }, (WAIT_S + 300) * 1000 + OPS * 50);
  }
});
