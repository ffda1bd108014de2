import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSafetyNetScan, type SafetyNetScan } from '../src/scan/index.js';

const dirs: string[] = [];
const services: SafetyNetScan[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('safety-net scan', () => {
  it('scans since the previous start minus the overlap, and reaches back over a failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcm-safety-'));
    dirs.push(dir);
    const stateFile = join(dir, 'state/safety.json');
    let now = 1_000_000;
    const calls: bigint[] = [];
    let fail = false;
    const svc = createSafetyNetScan({
      periodS: 60,
      overlapS: 5,
      stateFile,
      clock: () => now,
      scan: async (since) => {
        calls.push(since);
        if (fail) throw Object.assign(new Error('broker down'), { code: 'HPM_BROKER_UNREACHABLE' });
      },
    });
    services.push(svc);
    await svc.runNow();
    expect(calls[0]).toBe(BigInt(now - 60_000 - 5_000) * 1_000_000n);
    const firstStart = BigInt(now) * 1_000_000n;
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toEqual({ lastStartNs: firstStart.toString() });
    now += 60_000;
    fail = true;
    await svc.runNow();
    now += 60_000;
    fail = false;
    await svc.runNow();
    expect(calls[1]).toBe(firstStart - 5_000_000_000n);
    expect(calls[2]).toBe(firstStart - 5_000_000_000n);
  });

  it('runs on its period once started, aborts a running scan on stop, and is off at 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcm-safety-'));
    dirs.push(dir);
    let runs = 0;
    let aborted = false;
    const svc = createSafetyNetScan({
      periodS: 0.02,
      stateFile: join(dir, 's.json'),
      scan: (_since, signal) =>
        new Promise<void>((done) => {
          runs++;
          if (runs < 3) return done();
          signal.addEventListener('abort', () => {
            aborted = true;
            done();
          });
        }),
    });
    services.push(svc);
    await svc.start();
    await svc.start();
    await expect.poll(() => runs, { timeout: 30_000 }).toBe(3);
    await svc.stop();
    expect(aborted).toBe(true);
    const off = createSafetyNetScan({ periodS: 0, stateFile: join(dir, 'off.json'), scan: async () => void runs++ });
    await off.start();
    await off.stop();
  });
});
