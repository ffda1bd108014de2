#!/usr/bin/env node
/**
 * Scan speed and memory against the tools it replaces (run `npx tsc -b` and `make -C native-scan` first).
 *
 *   node bench/scan.mjs [files=300000] [rounds=5] [--keep]
 *
 * Builds a quiet tree of `files` files in a few hundred directories under /tmp, mirrors it with
 * `cp -a` (so it is "already mirrored"), warms the page cache with one untimed pass of every tool,
 * then runs `rounds` rounds, each running every contender once in a rotating order:
 *   two trees:  scan --dry-run --compare (runScan in a fresh Node process, as `hpcmirror scan` does)
 *               rsync -a --dry-run src/ dst/               (local)
 *               rsync -a --dry-run -e ssh src/ host:dst/   (the sandbox's loopback sshd)
 *   one tree:   scan --since <start of the bench> (nothing changed, nothing announced)
 *               find src -printf '%s %T@ %C@\n'            (lstat of every entry)
 * Rate = entries of one tree / wall time of the whole command (process start to exit), median over
 * the rounds. Peak RSS: our scan = the Node process + the walker (both their ru_maxrss); others as
 * /usr/bin/time reports them (for rsync over ssh: the local side only). CPU s = user + system time of
 * the command and its children (median), a view that a busy machine disturbs less than wall time.
 * Targets: compare >= 1.2x rsync (local and ssh); since >= 0.8x find; peak RSS < 200 MB.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SCAN_DIST = join(REPO, 'packages/agent/dist/scan/index.js');
const SANDBOX_DIST = join(REPO, 'packages/sandbox/dist/index.js');
const WALKER = join(REPO, 'native-scan/build/hpcm-scan');

if (process.argv[2] === '--child') {
  await child(JSON.parse(process.argv[3]));
} else {
  await main();
}

/** One scan in this (fresh) process; prints its figures as JSON. */
async function child(opts) {
  const { runScan, toAnnounceFact } = await import(SCAN_DIST);
  let facts = 0;
  const result = await runScan({
    root: opts.root,
    ...(opts.compareWith ? { compareWith: opts.compareWith } : {}),
    ...(opts.since ? { since: BigInt(opts.since) } : {}),
    onEntry: (entry) => {
      if (toAnnounceFact(entry, opts.root)) facts++; // --dry-run: counted, not published
    },
  });
  const nodeRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ examined: result.examined, facts, walkerRss: result.maxRssBytes, nodeRss }));
}

async function main() {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const FILES = Number(args[0] ?? 300_000);
  const ROUNDS = Math.max(1, Number(args[1] ?? 5));
  const keep = process.argv.includes('--keep');
  for (const [what, path] of [['npx tsc -b', SCAN_DIST], ['npx tsc -b', SANDBOX_DIST], ['make -C native-scan', WALKER]]) {
    if (!existsSync(path)) {
      console.error(`bench/scan: ${path} is missing; run \`${what}\` first`);
      process.exit(2);
    }
  }
  const haveTime = existsSync('/usr/bin/time');
  const work = mkdtempSync(join(tmpdir(), 'hpcm-bench-scan-'));
  const src = join(work, 'src');
  const dst = join(work, 'dst');
  let sshd;
  const cleanup = async () => {
    await sshd?.stop().catch(() => undefined);
    if (!keep) spawnSync('rm', ['-rf', work]);
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const t0 = Date.now();
    const { entries, dirs } = buildTree(src, FILES);
    console.log(`bench/scan: ${entries.toLocaleString()} entries (${FILES.toLocaleString()} files, ${dirs} dirs) built in ${((Date.now() - t0) / 1000).toFixed(1)} s under ${work}`);
    run('cp', ['-a', src, dst]);
    const quietSince = (BigInt(Date.now()) * 1_000_000n + 1_000_000_000n).toString();
    await new Promise((r) => setTimeout(r, 1100)); // the tree's ctimes are now strictly before quietSince

    const { startSshd } = await import(SANDBOX_DIST);
    sshd = await startSshd({ dir: join(work, 'sshd') });
    const ssh = sshd.sshCommand;

    const node = process.execPath;
    const me = fileURLToPath(import.meta.url);
    const contenders = [
      { name: 'scan --dry-run --compare (2 trees)', group: 'two', ours: true, argv: [node, me, '--child', JSON.stringify({ root: src, compareWith: dst })] },
      { name: 'rsync -a --dry-run, local', group: 'two', argv: ['rsync', '-a', '--dry-run', `${src}/`, `${dst}/`] },
      { name: 'rsync -a --dry-run, over ssh', group: 'two', argv: ['rsync', '-a', '--dry-run', '-e', ssh, `${src}/`, `${sshd.user}@${sshd.host}:${dst}/`] },
      { name: 'scan --since (1 tree, quiet)', group: 'one', ours: true, argv: [node, me, '--child', JSON.stringify({ root: src, since: quietSince })] },
      { name: "find -printf '%s %T@ %C@'", group: 'one', argv: ['find', src, '-printf', '%s %T@ %C@\\n'] },
    ];

    console.log('warming the cache (one untimed pass of each)...');
    for (const c of contenders) await measure(c, haveTime);
    const samples = new Map(contenders.map((c) => [c.name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
      for (const c of order) samples.get(c.name).push(await measure(c, haveTime));
      console.log(`round ${r + 1}/${ROUNDS}: ${order.map((c) => `${c.name.split(' ')[0]} ${samples.get(c.name).at(-1).seconds.toFixed(2)}s`).join(', ')}`);
    }
    report(contenders, samples, entries, ROUNDS);
  } finally {
    await cleanup();
  }
}

/** Even spread: ~1000 files per directory, 20 top directories of ~15 each; small varied sizes. */
function buildTree(root, files) {
  const perDir = 1000;
  const leafDirs = Math.max(1, Math.ceil(files / perDir));
  const tops = Math.max(1, Math.round(leafDirs / 15));
  const data = Buffer.alloc(4096, 0x78);
  let made = 0;
  let dirs = 0;
  for (let d = 0; d < leafDirs; d++) {
    const dir = join(root, `top${String(d % tops).padStart(3, '0')}`, `dir${String(d).padStart(4, '0')}`);
    if (d < tops) dirs++;
    mkdirSync(dir, { recursive: true });
    dirs++;
    for (let f = 0; f < perDir && made < files; f++, made++) {
      const fd = openSync(join(dir, `file-${String(f).padStart(4, '0')}.dat`), 'w');
      writeSync(fd, data, 0, (made * 37) % data.length);
      closeSync(fd);
    }
  }
  return { entries: made + dirs, dirs };
}

function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')}: exit ${r.status}`);
}

/** Wall time of the whole command; RSS from /usr/bin/time, or from the child's own report. */
function measure(c, haveTime) {
  return new Promise((resolve, reject) => {
    const argv = haveTime ? ['/usr/bin/time', '-f', '%U %S %M', ...c.argv] : c.argv;
    const began = process.hrtime.bigint();
    const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b) => {
      if (c.ours) out += b;
    });
    p.stderr.on('data', (b) => (err += b));
    p.on('error', reject);
    p.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - began) / 1e9;
      if (code !== 0) return reject(new Error(`${c.name}: exit ${code}\n${err.slice(-2000)}`));
      const [user, sys, maxKb] = haveTime ? err.trim().split('\n').at(-1).split(' ').map(Number) : [NaN, NaN, NaN];
      let rss = maxKb * 1024;
      const cpu = user + sys;
      let facts;
      if (c.ours) {
        const j = JSON.parse(out);
        rss = j.walkerRss + j.nodeRss;
        facts = j.facts;
      }
      resolve({ seconds, cpu, rss, facts });
    });
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function report(contenders, samples, entries, rounds) {
  const rows = contenders.map((c) => {
    const ss = samples.get(c.name);
    const seconds = median(ss.map((s) => s.seconds));
    const cpu = median(ss.map((s) => s.cpu));
    return { c, seconds, cpu, rate: entries / seconds, rss: Math.max(...ss.map((s) => s.rss)), facts: ss[0].facts };
  });
  const by = (name) => rows.find((r) => r.c.name.startsWith(name));
  const cmp = by('scan --dry-run');
  const rl = by('rsync -a --dry-run, local');
  const rs = by('rsync -a --dry-run, over ssh');
  const since = by('scan --since');
  const find = by('find');
  const mb = (b) => (Number.isFinite(b) ? `${(b / 1048576).toFixed(1)} MB` : 'n/a');
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  console.log(`\nhpcm scan bench: ${fmt(entries)} entries per tree, median of ${rounds} rounds, ${availableParallelism()} CPUs, warm cache`);
  console.log(`${'contender'.padEnd(38)} ${'seconds'.padStart(8)} ${'files/s'.padStart(10)} ${'CPU s'.padStart(7)} ${'peak RSS'.padStart(10)}  files/s ratio`);
  const ratio = (r) =>
    r === cmp ? `${(cmp.rate / rl.rate).toFixed(2)}x rsync local, ${(cmp.rate / rs.rate).toFixed(2)}x rsync ssh`
    : r === since ? `${(since.rate / find.rate).toFixed(2)}x find`
    : 'baseline';
  for (const r of rows) {
    const note = r.facts !== undefined ? ` (${r.facts} to announce)` : '';
    const cpu = Number.isFinite(r.cpu) ? r.cpu.toFixed(2) : 'n/a';
    console.log(`${r.c.name.padEnd(38)} ${r.seconds.toFixed(2).padStart(8)} ${fmt(r.rate).padStart(10)} ${cpu.padStart(7)} ${mb(r.rss).padStart(10)}  ${ratio(r)}${note}`);
  }
  const ok = (b) => (b ? 'PASS' : 'FAIL');
  const limit = 200 * 1048576;
  console.log(
    `targets: compare >= 1.2x rsync local ${ok(cmp.rate >= 1.2 * rl.rate)}, >= 1.2x rsync ssh ${ok(cmp.rate >= 1.2 * rs.rate)}; ` +
      `since >= 0.8x find ${ok(since.rate >= 0.8 * find.rate)}; peak RSS < 200 MB ${ok(cmp.rss < limit && since.rss < limit)}`,
  );
}
