import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachRabbitMQ, attachSshd } from '../../packages/sandbox/src/index.js';
import { SandboxUnderTest } from '../e2e/cli-harness.js';
import { shellInCase, spoolGrowth } from '../e2e/mirror-checks.js';
import {
  assignedEvents, Canary, explain, leftoverTemps, LONG, recordRow, restartServiceWith, runWriter, settle, watchPartials, writeSelfCheck, type FaultRow,
} from './fault-kit.js';

/**
 * Infrastructure faults during a running workload (issue 10), one sandbox for the file: the broker
 * restarted and stopped, sshd restarted with the connection dropped in the middle of a large file,
 * the source file deleted or replaced while it is copied, the destination file system full. Each
 * is followed by `wait` and an audit with content; a reader polls the destination throughout and
 * every self-checking file it sees under its final name must be whole. Quick by default; HPCM_FAULTS_LONG=1
 * runs more seeds, bigger workloads and the 60 s outage.
 */
const SEEDS = LONG ? [11, 22, 33] : [11];
/**
 * `npm test` runs the core of the quick form (broker stop, sshd drop, disk full); `npm run faults`
 * (HPCM_FAULTS_FULL=1) adds the source replaced mid-copy and the clock skew.
 */
const FULL = LONG || process.env.HPCM_FAULTS_FULL === '1';
/** The restart alone is long form: the quick form's stop-and-start already restarts the node. */
const RESTART_SEEDS = LONG ? SEEDS : [];
const WRITES = LONG ? 1500 : 120;
const OUTAGE_S = LONG ? 60 : 10;
const BIG = (LONG ? 256 : 16) << 20;
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

describe('infrastructure faults during a workload', () => {
  const sb = new SandboxUnderTest('sftp');
  let canary: Canary;
  const mounts: string[] = [];
  beforeAll(async () => {
    canary = new Canary(sb.dir);
    await sb.up();
  }, 300_000);
  afterAll(async () => {
    for (const m of mounts) { try { execFileSync('umount', ['-l', m]); } catch { /* already gone */ } }
    await sb.down();
  }, 120_000);

  /** Runs FAULT while the writer works under PREFIX, then settles, records the row and checks the zeros. */
  async function underWorkload(name: string, prefix: string, seed: number, fault: (spooled: () => number) => Promise<string | void>, writes = WRITES, pauseS = 0): Promise<void> {
    await shellInCase(sb, prefix, 'true');
    const before = assignedEvents(sb);
    const stopWatch = watchPartials(sb, prefix);
    const spooled = spoolGrowth(sb);
    const writer = runWriter(sb, prefix, seed, writes, 64 << 10, pauseS);
    writer.catch(() => undefined);
    let note: string | void;
    try {
      note = await fault(spooled);
    } finally {
      await writer;
    }
    await checkAfter(name, prefix, before, stopWatch, note ?? undefined);
  }

  async function checkAfter(name: string, prefix: string, before: number, stopWatch: () => Promise<string[]>, note?: string): Promise<void> {
    const v = await settle(sb, prefix);
    const partials = [...(await stopWatch()), ...leftoverTemps(sb, prefix)];
    const row: FaultRow = {
      name, runs: 1, events: assignedEvents(sb) - before, lost: v.lost.length, divergent: v.divergent.length,
      partial: partials.length, outside: canary.writes(), parked: '-', ...(note ? { note } : {}),
    };
    recordRow(row);
    expect(v.waitCode, explain(sb, row, v, partials)).toBe(0);
    expect(row.lost + row.divergent + row.partial + row.outside, explain(sb, row, v, partials)).toBe(0);
  }

  for (const seed of RESTART_SEEDS) {
    it(`RabbitMQ node restart while the shim writes (seed ${seed})`, async () => {
      const broker = attachRabbitMQ(join(sb.dir, 'rabbitmq'));
      await underWorkload('fault: RabbitMQ restart', `broker-restart-${seed}`, seed, async (spooled) => {
        while (spooled() < 4000) await sleep(20);
        const t0 = Date.now();
        await broker.restart();
        return `restart took ${((Date.now() - t0) / 1000).toFixed(1)} s`;
      }, WRITES, 0.01);
    }, 600_000);
  }

  for (const seed of SEEDS) {
    it(`RabbitMQ stopped for ${OUTAGE_S} s while the shim writes: the spool grows, then drains (seed ${seed})`, async () => {
      const broker = attachRabbitMQ(join(sb.dir, 'rabbitmq'));
      await underWorkload(`fault: RabbitMQ stopped ${OUTAGE_S} s`, `broker-down-${seed}`, seed, async (spooled) => {
        while (spooled() < 2000) await sleep(20);
        await broker.stop();
        const atStop = spooled();
        await sleep(OUTAGE_S * 1000);
        const grown = spooled() - atStop;
        await broker.start();
        return `spool grew ${grown} bytes during the outage`;
      }, Math.ceil(OUTAGE_S / 0.04), 0.04);
    }, 600_000);
  }

  it('sshd restarted and the connection dropped in the middle of a large file', async () => {
    const prefix = 'sshd-drop';
    await shellInCase(sb, prefix, 'true');
    const before = assignedEvents(sb);
    const stopWatch = watchPartials(sb, prefix);
    await writeSelfCheck(sb, prefix, `w5-${BIG}-0`, BIG);
    const midCopy = await waitForTemp(sb, prefix);
    const sshd = attachSshd(join(sb.dir, 'sshd'));
    const sessions = childrenOf(sshd.pid);
    await sshd.stop();
    // The listener's stop leaves the per-connection daemons running: drop them, as a dead link would.
    for (const pid of sessions) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ } }
    await sleep(2000);
    await sshd.start();
    await checkAfter('fault: sshd restart + dropped connection mid large file', prefix, before, stopWatch,
      `${midCopy ? 'cut mid-copy' : 'copy had finished before the cut'}; ${sessions.length} sessions dropped`);
    dropCase(sb, prefix);
  }, 600_000);

  // Quick form: the replacement only (it covers the source changing under a copy); both in the long form.
  for (const how of LONG ? ['deleted', 'replaced'] as const : FULL ? ['replaced'] as const : []) {
    it(`source file ${how} while being copied`, async () => {
      const prefix = `src-${how}`;
      await shellInCase(sb, prefix, 'true');
      const before = assignedEvents(sb);
      const stopWatch = watchPartials(sb, prefix);
      const big = `w6-${BIG}-0`;
      await writeSelfCheck(sb, prefix, big, BIG);
      const midCopy = await waitForTemp(sb, prefix);
      // A self-checking replacement of another size under the same name, as a job's rewrite would leave it.
      await shellInCase(sb, prefix, how === 'deleted'
        ? `rm -f ${big}`
        : `python3 -c "open('new.part','wb').write(b'r' * 1020 + b'END\\n')" && mv new.part ${big.replace(/^w6-\d+-/, 'w6-1024-')} && rm -f ${big}`);
      await checkAfter(`fault: source ${how} mid-copy`, prefix, before, stopWatch, midCopy ? 'during the copy' : 'copy had finished first');
      dropCase(sb, prefix);
    }, 600_000);
  }

  for (const skew of LONG ? ['-1h', '+1h'] : FULL ? ['-1h'] : []) {
    it(`clock skew: the subscriber's clock ${skew} from the source's does not skip copies`, async () => {
      // libfaketime (Debian's faketime) preloaded into the subscriber only; timers keep the real monotonic clock.
      const log = join(sb.dir, 'logs/subscriber.log');
      const starts = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"msg":"subscriber started"'));
      const startsBefore = starts().length;
      await restartServiceWith(sb, 'subscriber', { LD_PRELOAD: FAKETIME_LIB, FAKETIME: skew, FAKETIME_DONT_FAKE_MONOTONIC: '1' });
      try {
        // Proof that the skew took: the new subscriber's own log time is off by about the skew.
        const deadline = Date.now() + 120_000;
        while (starts().length <= startsBefore && Date.now() < deadline) await sleep(250);
        const started = starts().at(-1)!;
        const offMin = Math.round(((JSON.parse(started) as { time: number }).time - Date.now()) / 60_000);
        expect(Math.abs(offMin)).toBeGreaterThanOrEqual(50);
        await underWorkload(`fault: clock skew ${skew} (faketime)`, `skew${skew.replace(/[^0-9a-z]/g, '')}`, 44, async () => `subscriber clock off by ${offMin} min`, WRITES, 0.005);
      } finally {
        await restartServiceWith(sb, 'subscriber');
      }
    }, 600_000);
  }

  it('destination file system full: retries, nothing partial, catches up once space is freed', async () => {
    const prefix = 'full';
    await shellInCase(sb, prefix, 'true');
    expect((await sb.wait(120)).code).toBe(0);
    const mnt = join(sb.dst, prefix);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=755', 'tmpfs', mnt]);
    mounts.push(mnt);
    const before = assignedEvents(sb);
    const stopWatch = watchPartials(sb, prefix);
    await runWriter(sb, prefix, 7, LONG ? 200 : 40, 128 << 10);
    // Let the subscriber hit ENOSPC and retry for a while, then free space.
    await sleep(LONG ? 30_000 : 5000);
    const usedFull = execFileSync('df', ['--output=pcent', mnt], { encoding: 'utf8' }).split('\n')[1]!.trim();
    execFileSync('mount', ['-o', 'remount,size=256m', mnt]);
    await checkAfter('fault: destination disk full', prefix, before, stopWatch, `destination was ${usedFull} full, then grown`);
  }, 600_000);
});

/**
 * Removes a finished case's trees on both sides, behind the mirror's back (no shim), so that the
 * next cases' audits with content do not read its large files again (audit has no path filter).
 */
function dropCase(sb: SandboxUnderTest, prefix: string): void {
  for (const root of [sb.src, sb.dst]) rmSync(join(root, prefix), { recursive: true, force: true });
}

/** Waits (a bounded time) until a temp file shows up under PREFIX of the destination: a copy in flight. */
async function waitForTemp(sb: SandboxUnderTest, prefix: string, timeoutMs = 60_000): Promise<boolean> {
  const dir = join(sb.dst, prefix);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(dir) && readdirSync(dir).some((n) => n.startsWith('.hpcm.'))) return true;
    // Already whole on the destination: the copy was quicker than we looked.
    if (existsSync(dir) && readdirSync(dir).some((n) => /^w\d+-/.test(n))) return false;
    await sleep(10);
  }
  return false;
}

/** Pids whose parent is PID (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch { /* exited */ }
  }
  return out;
}

