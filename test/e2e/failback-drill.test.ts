import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSandboxState, stopProcess } from '../../packages/sandbox/src/index.js';
import { CLI, REPO, hpcmirror, SandboxUnderTest, type CliResult } from './cli-harness.js';
import { killService } from './mirror-checks.js';

/**
 * The failback drill (issue 8, semantics.md "Catch-up, failover and failback"), on a real sandbox
 * (broker, agents, winnows, subscribers; local transport by default, to keep it short): the
 * mirror runs; the forward subscriber falls behind so pre-outage announcements stay queued; the primary "fails"
 * (its agent and winnow die, its directory becomes unreachable); `failover`; a workload on the
 * secondary under the shim (new files, overwrites, renames, deletes); the primary returns with
 * files changed during the outage; a failback over the delete cap stops before changing anything;
 * a failback killed mid-drain resumes; then the primary equals the secondary except the listed
 * conflict copies, and no queued pre-outage version overwrote a newer secondary file.
 *
 * HPCM_DRILL_REVERSE_CAP=1 runs it with the reverse queue capped at one message per shard: the
 * outage overflows it, and failback must say so and reconcile with a full scan of the secondary.
 * HPCM_DRILL_TRANSPORT=sftp runs it with the forward flow over the sandbox's sshd: failback then
 * checks the primary, keeps conflict copies and deletes over SFTP, as between two clusters
 * (packages/cli/test/primary-writer.test.ts covers those writes against the real sshd in every run).
 */
const REVERSE_CAP = process.env.HPCM_DRILL_REVERSE_CAP;
const TRANSPORT = (process.env.HPCM_DRILL_TRANSPORT ?? 'local') as 'local' | 'sftp';
const sb = new SandboxUnderTest(TRANSPORT);
const read = (p: string): string => readFileSync(p, 'utf8');

function shimOn(config: string, cwd: string, script: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'shim', 'run', '--config', config, '--', 'bash', '-ec', script], {
      cwd, env: { ...process.env, HPCM_SHIM: '1' },
    }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
  });
}

async function forwardQueued(): Promise<number> {
  const conn = await amqp.connect(readSandboxState(sb.dir)!.brokerUrl);
  try {
    const ch = await conn.createChannel();
    let n = 0;
    for (let i = 0; i < 4; i++) n += (await ch.checkQueue(`q_${userInfo().username}_sandbox.sub.small.${i}`)).messageCount;
    return n;
  } finally {
    await conn.close();
  }
}

async function stopSandboxService(name: string): Promise<void> {
  const record = readSandboxState(sb.dir)!.services.find((s) => s.name === name)!;
  await stopProcess(record, { timeoutMs: 30_000 });
}

const began = Date.now();
const mark = (what: string): void => { if (process.env.HPCM_DRILL_TIMES) process.stderr.write(`drill ${((Date.now() - began) / 1000).toFixed(1)} s: ${what}\n`); };

/** The plan file's paths by kind (copy, conflict, delete); the test's names need no decoding. */
function planLines(file: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of read(file).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split('\t');
    (out[f[0]!] ??= []).push(f[f.length - 1]!);
  }
  return out;
}

const conflictCopies = (dir: string, name: string): string[] => readdirSync(dir).filter((n) => n.startsWith(`${name}.hpcm-conflict-`));

beforeAll(async () => {
  if (REVERSE_CAP) process.env.HPCM_SANDBOX_REVERSE_QUEUE_MAX = REVERSE_CAP;
  await sb.up();
  mark('sandbox up');
}, 300_000);

afterAll(async () => {
  await sb.down();
}, 180_000);

describe('failback drill', () => {
  it('failover, secondary workload, primary changed during the outage, capped and interrupted failback: the primary equals the secondary but for conflict copies', async () => {
    // The mirror runs.
    let r = sb.shell('mkdir -p d olddir; for i in 1 2 3 5 6; do echo v1-$i > d/f$i; done; echo x > gone1; echo y > olddir/z');
    expect(r.code, r.stderr).toBe(0);
    expect((await sb.wait(120)).code).toBe(0);
    expect((await sb.audit()).differences).toEqual([]);
    mark('mirrored');
    await sleep(1200); // the mirrored state is older than T0 minus the skew allowance

    // The forward subscriber falls behind: these announcements stay queued.
    await stopSandboxService('subscriber');
    r = sb.shell('echo stale-primary > d/f1; echo queued > d/queued-new');
    expect(r.code, r.stderr).toBe(0);
    for (let t = Date.now(); (await forwardQueued()) < 2; await sleep(200)) if (Date.now() - t > 60_000) throw new Error('announcements never queued');

    // The primary fails.
    await killService(sb, 'agent');
    await killService(sb, 'winnow');
    renameSync(sb.src, `${sb.src}.offline`);

    mark('primary down');
    const fo = await hpcmirror(['failover', '--sandbox', sb.dir, '--skew', '0.5', '--json']);
    expect(fo.code, fo.stderr).toBe(0);
    const record = JSON.parse(fo.stdout) as { setAside: { moved: number }; manifestEntries: number; boundBy: string };
    expect(record.setAside.moved).toBeGreaterThanOrEqual(2);
    expect(record.boundBy).toBe('pending');

    mark('failover');
    // Operations continue on the secondary, under the shim, announced by the reverse agent.
    r = await shimOn(join(sb.dir, 'configs', 'reverse.yaml'), sb.dst, [
      'echo secondary-new > d/f1', // newer than the queued pre-outage version
      'echo s5 > d/f5', // the primary changes it too: conflict
      'mv d/f2 d/f2-renamed',
      'rm d/f3 gone1', 'rm -r olddir',
      'echo brand-new > d/s-new', 'mkdir sdir', 'echo deep > sdir/deep',
    ].join('\n'));
    expect(r.code, r.stderr).toBe(0);

    // The primary returns, with changes made there during the outage.
    renameSync(`${sb.src}.offline`, sb.src);
    writeFileSync(join(sb.src, 'd/f5'), 'primary-outage-5\n');
    writeFileSync(join(sb.src, 'd/f6'), 'primary-outage-6\n');
    writeFileSync(join(sb.src, 'p-new'), 'p\n');

    mark('secondary workload, primary back');
    const plan = await hpcmirror(['failback', '--plan', '--sandbox', sb.dir, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout) as { file: string; conflicts: number; deletes: number };
    const planned = planLines(p.file);
    expect(planned.conflict!.sort()).toEqual(['d/f1', 'd/f5']);
    expect(planned.delete!.sort()).toEqual(['d/f2', 'd/f3', 'gone1', 'olddir', 'olddir/z']);
    expect(planned.copy).toEqual(expect.arrayContaining(['d/f1', 'd/f5', 'd/f2-renamed', 'd/s-new', 'sdir/deep']));
    expect([p.conflicts, p.deletes]).toEqual([2, 5]);

    mark('plan');
    // Over the delete cap: stops before changing anything.
    const capped = await hpcmirror(['failback', '--run', '--sandbox', sb.dir, '--max-delete', '1']);
    expect(capped.code).toBe(1);
    expect(capped.stderr).toMatch(/HPM_FAILBACK_DELETE_CAP|more than the cap of 1/);
    expect(capped.stdout).toMatch(TRANSPORT === 'sftp' ? /primary is reachable and writable \(over SFTP\)/ : /\(mounted here\)/);
    expect(existsSync(join(sb.src, 'd/f3'))).toBe(true);
    expect(read(join(sb.src, 'd/f5'))).toBe('primary-outage-5\n');

    mark('capped run');
    // Interrupted while draining the reverse queue (kill -9), then run again: it continues.
    const child: ChildProcess = execFile(process.execPath, [CLI, 'failback', '--run', '--sandbox', sb.dir], { cwd: REPO, env: { ...process.env, HPCM_SHIM: '0' } });
    const exited = new Promise((res) => child.on('exit', res));
    for (let t = Date.now(); !readSandboxState(sb.dir)!.pids['reverse-subscriber']; await sleep(50)) {
      if (Date.now() - t > 60_000) throw new Error('failback never started the reverse subscriber');
    }
    child.kill('SIGKILL');
    await exited;
    mark('killed');
    const again = await hpcmirror(['failback', '--run', '--sandbox', sb.dir]);
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toMatch(/resuming the failback/);
    expect(again.stdout).toMatch(/plan: done at .* \(skipped\)/);
    if (REVERSE_CAP) expect(capped.stdout).toMatch(/the reverse queue overflowed \(\d+ announcements dropped\): reconciling with a full scan/);
    else expect(capped.stdout).not.toMatch(/overflowed/);

    mark('failback done');
    // The primary equals the secondary except the listed conflict copies.
    expect((await sb.wait(120)).code).toBe(0);
    const audit = await sb.audit();
    expect(audit.differences.filter((d) => !/\.hpcm-conflict-/.test(d.path))).toEqual([]);
    for (const root of [sb.src, sb.dst]) {
      // No queued pre-outage version overwrote the newer secondary file, anywhere.
      expect(read(join(root, 'd/f1'))).toBe('secondary-new\n');
      expect(read(join(root, 'd/f5'))).toBe('s5\n');
      expect(read(join(root, 'd/f6'))).toBe('primary-outage-6\n');
      expect(read(join(root, 'p-new'))).toBe('p\n');
      expect(read(join(root, 'd/queued-new'))).toBe('queued\n');
      expect(read(join(root, 'd/f2-renamed'))).toBe('v1-2\n');
      expect(read(join(root, 'sdir/deep'))).toBe('deep\n');
      for (const gone of ['d/f2', 'd/f3', 'gone1', 'olddir']) expect(existsSync(join(root, gone)), `${root}/${gone}`).toBe(false);
    }
    mark('audited');
    const [c1] = conflictCopies(join(sb.src, 'd'), 'f1');
    const [c5] = conflictCopies(join(sb.src, 'd'), 'f5');
    expect(read(join(sb.src, 'd', c1!))).toBe('stale-primary\n');
    expect(read(join(sb.src, 'd', c5!))).toBe('primary-outage-5\n');
    expect(again.stdout).toContain(`conflict: the primary's version is kept as d/${c1}`);
  }, 300_000);
});
