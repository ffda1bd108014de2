import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, silentLogger } from '@hpcmirror/core';
import { createWatcher, type Watcher } from '../src/watch/index.js';
import { decodeRecords, type SpoolRecord } from '../src/spool/record.js';

/**
 * The watcher on its own: real inotify (native-watch's hpcm-watch), real writers without the shim,
 * records read back from the spool it writes. No broker: what the agent makes of these records is
 * the same as for the shim's (agent-spool tests), and watch-e2e checks the whole way to the mirror.
 */
const noShim = { ...process.env, LD_PRELOAD: '', HPCM_SHIM: '0' };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Env { base: string; root: string; spool: string; state: string }

function makeEnv(): Env {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'hpcm-watch-')));
  const env = { base, root: join(base, 'primary'), spool: join(base, 'spool'), state: join(base, 'state') };
  mkdirSync(env.root);
  mkdirSync(env.spool, { mode: 0o700 });
  return env;
}

function watcherFor(e: Env, watch: Record<string, unknown> = {}, extra: { maxWatches?: number } = {}): Watcher {
  const cfg = configSchema.parse({
    flow: 'w', user: 'tester', broker: { url: 'amqp://localhost' }, source_root: e.root, state_dir: e.state,
    agent: { base_url: 'sftp://tester@hpc1/', spool_dir: e.spool, host: 'hpc1' },
    watch: { stable_s: 1, ...watch },
  });
  return createWatcher({ config: { ...cfg, user: 'tester', exchange: 'xs_tester_w' }, logger: silentLogger(), ...extra });
}

/** Every record in the spool, in order, with paths relative to the root. */
function records(e: Env): (SpoolRecord & { rel: string; rel2: string | undefined })[] {
  const out: (SpoolRecord & { rel: string; rel2: string | undefined })[] = [];
  for (const n of readdirSync(e.spool).filter((x) => x.endsWith('.seg')).sort()) {
    for (const r of decodeRecords(readFileSync(join(e.spool, n)), 0, { final: true }).records) {
      out.push({ ...r, rel: r.path.toString().slice(e.root.length + 1), rel2: r.path2?.toString().slice(e.root.length + 1) });
    }
  }
  return out;
}

const brief = (rs: ReturnType<typeof records>): string[] => rs.map((r) => `${r.op} ${r.rel}${r.op === 'RENAME' ? ` <- ${r.rel2}` : ''}`);

async function until<T>(what: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = what();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}

describe('watch: announcements for trees no shimmed program writes', () => {
  let w: Watcher | undefined;
  let env: Env | undefined;
  afterEach(async () => {
    await w?.stop();
    w = undefined;
    if (env) rmSync(env.base, { recursive: true, force: true });
  });

  it('records the tree as a baseline on first start, then announces cp, rename, remove and new directories', async () => {
    env = makeEnv();
    const e = env;
    writeFileSync(join(e.root, 'old.dat'), 'baseline');
    w = watcherFor(e);
    await w.start();
    expect(records(e)).toEqual([]);

    writeFileSync(join(e.base, 'input.dat'), 'x'.repeat(100_000));
    execFileSync('cp', [join(e.base, 'input.dat'), join(e.root, 'copied.dat')], { env: noShim });
    const close = await until(() => records(e).find((r) => r.op === 'CLOSE_W' && r.rel === 'copied.dat'));
    expect(close.stat?.size).toBe(100_000n);

    const before = records(e).length;
    renameSync(join(e.root, 'copied.dat'), join(e.root, 'renamed.dat'));
    await until(() => records(e).length > before);
    await sleep(300);
    expect(brief(records(e).slice(before))).toEqual(['RENAME renamed.dat <- copied.dat']);

    execFileSync('bash', ['-c', 'mkdir -p d/e && echo hi > d/e/f && ln -s ../old.dat d/link && rm old.dat'], { cwd: e.root, env: noShim });
    await until(() => records(e).find((r) => r.op === 'UNLINK' && r.rel === 'old.dat'));
    await until(() => records(e).find((r) => r.rel === 'd/e/f' && (r.op === 'CLOSE_W' || r.op === 'CHANGED')));
    const ops = brief(records(e).slice(before + 1));
    expect(ops).toContain('MKDIR d');
    expect(ops).toContain('MKDIR d/e');
    expect(ops).toContain('SYMLINK d/link');
    expect(ops.filter((o) => o.endsWith(' d/e/f')).length).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('announces a file written slowly over 5 s once, complete', async () => {
    env = makeEnv();
    const e = env;
    w = watcherFor(e);
    await w.start();
    // One open for the whole run, pauses longer than stable_s: only the close (or the stable rule
    // once nobody has it open) may announce it.
    const child = spawn('bash', ['-c', '(for i in 1 2 3 4; do printf "%s" "$i$i$i"; sleep 1.4; done) > slow.dat'], { cwd: e.root, env: noShim });
    await new Promise((r) => child.on('exit', r));
    // The close reaches the spool through hpcm-watch and this event loop: wait for it, not a guess.
    await until(() => records(e).some((r) => r.rel === 'slow.dat') || undefined);
    await sleep(1800); // longer than stable_s: a second announcement by the stable rule would show now
    const slow = records(e).filter((r) => r.rel === 'slow.dat');
    expect(slow.map((r) => `${r.op} ${r.stat?.size}`)).toEqual(['CLOSE_W 12']);
  }, 60_000);

  it('after a restart announces exactly what changed while it was down', async () => {
    env = makeEnv();
    const e = env;
    execFileSync('bash', ['-c', 'mkdir -p keep gone sub && for i in 1 2 3; do echo $i > keep/f$i; done; echo a > mod.dat; echo b > del.dat; echo c > mv-a.dat; echo d > gone/x; echo e > same.dat'], { cwd: e.root });
    w = watcherFor(e);
    await w.start();
    await w.stop();
    expect(records(e)).toEqual([]);

    execFileSync('bash', ['-c', 'echo changed >> mod.dat; rm del.dat; mv mv-a.dat mv-b.dat; rm -r gone; mkdir -p new/deep; echo n > new/deep/n.dat; echo t > sub/t.dat; touch -d @1000 same.dat'], { cwd: e.root });
    w = watcherFor(e);
    await w.start();
    await until(() => (w!.metrics().dirs[0]!.pending === 0 ? true : undefined));
    const got = brief(records(e)).sort();
    expect(got).toEqual([
      'CHANGED mod.dat', 'CHANGED mv-b.dat', 'CHANGED new/deep/n.dat', 'CHANGED same.dat', 'CHANGED sub/t.dat',
      'MKDIR new', 'MKDIR new/deep', 'RMDIR gone', 'UNLINK del.dat', 'UNLINK gone/x', 'UNLINK mv-a.dat',
    ].sort());
    // children before their directory
    const order = brief(records(e));
    expect(order.indexOf('UNLINK gone/x')).toBeLessThan(order.indexOf('RMDIR gone'));

    // and a second restart with nothing changed announces nothing
    await w.stop();
    const n = records(e).length;
    w = watcherFor(e);
    await w.start();
    await sleep(300);
    expect(records(e).length).toBe(n);
  }, 60_000);

  it('poll mode (network file systems) finds changes by rescanning against the index', async () => {
    env = makeEnv();
    const e = env;
    writeFileSync(join(e.root, 'a.dat'), 'a');
    w = watcherFor(e, { mode: 'poll', poll_s: 1 });
    await w.start();
    expect(w.metrics().dirs[0]!.watches).toBe(0);
    execFileSync('bash', ['-c', 'echo b > b.dat; mv a.dat c.dat'], { cwd: e.root, env: noShim });
    await until(() => (records(e).length >= 3 ? true : undefined));
    await sleep(300);
    expect(brief(records(e)).sort()).toEqual(['CHANGED b.dat', 'CHANGED c.dat', 'UNLINK a.dat']);
  }, 60_000);

  it('answers an inotify queue overflow with a rescan that announces what the lost events said', async () => {
    const maxQueued = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
    if (maxQueued > 100_000) return; // too many files to make it overflow quickly here
    env = makeEnv();
    const e = env;
    mkdirSync(join(e.root, 'flood')); // watched from the start, so every new file in it is an event
    w = watcherFor(e);
    await w.start();
    // Stop the reader so the kernel queue fills: each new file is >= 2 events (create, close-write).
    const reader = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'latin1').includes('hpcm-watch') && readFileSync(`/proc/${p}/stat`, 'latin1').split(') ')[1]!.split(' ')[1] === String(process.pid);
      } catch { return false; }
    });
    expect(reader).toBeDefined();
    const files = Math.ceil(maxQueued / 2) + 2000;
    process.kill(Number(reader), 'SIGSTOP');
    try {
      for (let i = 0; i < files; i++) writeFileSync(join(e.root, 'flood', `f${i}`), 'x');
    } finally {
      process.kill(Number(reader), 'SIGCONT');
    }
    await until(() => (w!.metrics().dirs[0]!.overflows > 0 && w!.metrics().dirs[0]!.pending === 0 ? true : undefined), 150_000).catch((err: unknown) => { throw new Error(`${String(err)}: ${JSON.stringify(w!.metrics())}`); });
    await sleep(500);
    const announced = new Set(records(e).filter((r) => r.rel.startsWith('flood/') && (r.op === 'CLOSE_W' || r.op === 'CHANGED')).map((r) => r.rel));
    expect(announced.size).toBe(files);
  }, 240_000); // ~10,000 files and a rescan: 30 s idle, 50 s on a shared machine

  it('fails with one clear error naming fs.inotify.max_user_watches and the number needed', async () => {
    env = makeEnv();
    const e = env;
    execFileSync('bash', ['-c', 'mkdir -p a/b/c d e'], { cwd: e.root });
    w = watcherFor(e, {}, { maxWatches: 2 });
    const err = await w.start().then(() => undefined, (x: unknown) => x as { code: string; message: string });
    expect(err?.code).toBe('HPM_WATCH_LIMIT');
    expect(err?.message).toMatch(/fs\.inotify\.max_user_watches is 2; watching \S+ needs 6 watches/);
  });
});
