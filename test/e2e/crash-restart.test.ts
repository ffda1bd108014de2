import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { SandboxUnderTest } from './cli-harness.js';
import { buildFuzzDriver, expectConverged, killService, parseSeeds, restartService, runFuzz, shellInCase, spoolGrowth, type ServiceName } from './mirror-checks.js';

/**
 * "...and across crashes and restarts of any component" (semantics.md). During a fuzz run, one
 * component gets SIGKILL at a moment drawn from the seed (once the writers have spooled a drawn number
 * of bytes, so that the flow is busy then whatever the machine's speed), stays down a moment, and is started again
 * as the sandbox started it (same argv, config, state and log; nothing else restarted). Then `wait`
 * and audit with content: no difference.
 *
 * Replay: HPCM_FUZZ_SEED=<seed> npx vitest run test/e2e/crash-restart.test.ts (same seed for all three;
 * a range `7000-7049` or a comma list runs each seed that way; HPCM_CRASH_SERVICE=winnow kills only that one)
 */
const OPS = Number(process.env.HPCM_FUZZ_OPS ?? 400);
const WAIT_S = Math.max(300, Math.ceil(OPS / 50));
const SERVICES = (['agent', 'winnow', 'subscriber'] as const).filter((s) => (process.env.HPCM_CRASH_SERVICE || s) === s);
const CASES: [ServiceName, number][] = process.env.HPCM_FUZZ_SEED
  ? parseSeeds(process.env.HPCM_FUZZ_SEED).flatMap((seed) => SERVICES.map((s): [ServiceName, number] => [s, seed]))
  : [['agent', 7101], ['winnow', 7202], ['subscriber', 7303]];

/** mulberry32: the kill moment and the downtime follow from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('kill -9 of a component during a fuzz run, restart, converge', () => {
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

  for (const [service, seed] of CASES) {
    it(`${service} SIGKILLed at a random moment (seed ${seed}), restarted: no difference`, async () => {
      const draw = rng(seed);
      const killAfterBytes = 1000 + Math.floor(draw() * OPS * 80);
      const downMs = 500 + Math.floor(draw() * 2500);
      const root = `crash-${service}-${seed}`;
      await shellInCase(sb, root, 'true');
      const spooled = spoolGrowth(sb);
      let finished = false;
      const fuzz = runFuzz(sb, driver, join(sb.src, root), seed, OPS).finally(() => { finished = true; });
      // Whatever the writers do, their promise must settle before the test ends.
      fuzz.catch(() => undefined);
      while (!finished && spooled() < killAfterBytes) await sleep(20);
      const killedAt = spooled();
      const writersDone = finished;
      const killed = await killService(sb, service);
      await sleep(downMs);
      const restarted = await restartService(sb, service);
      const run = await fuzz;
      process.stdout.write(`crash ${service} seed ${seed}: killed pid ${killed} after ${killedAt} spooled bytes of the run${writersDone ? ' (writers were done)' : ''}, down ${downMs} ms, now pid ${restarted}\n  ${run.outputs.join('\n  ')}\n`);
      await expectConverged(sb, root, `HPCM_FUZZ_SEED=${seed} HPCM_FUZZ_OPS=${OPS} npx vitest run test/e2e/crash-restart.test.ts (${service} killed after ${killedAt} spooled bytes, down ${downMs} ms)`, WAIT_S);
    }, (WAIT_S + 300) * 1000 + OPS * 50);
  }
});
