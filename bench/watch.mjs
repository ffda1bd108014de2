#!/usr/bin/env node
/**
 * Watch mode against lsyncd (run `npx tsc -b` and `make -C native-watch` first; lsyncd from apt).
 *
 *   node bench/watch.mjs [files=100000] [burst=10000] [--keep]
 *
 * Builds a quiet tree of `files` files (100 per directory) under /tmp, then measures, in one run:
 *   - hpcmirror watch, first start (no index: every directory watched, the tree recorded as the
 *     baseline) and restart (index present, nothing changed: the startup comparison finds nothing):
 *     time from process start to "watcher started", RSS then (Node + hpcm-watch);
 *   - lsyncd (default.rsync, init=false, so it only watches): time from process start until its
 *     inotify fd holds one watch per directory (read from /proc/<pid>/fdinfo), RSS then;
 *   - a burst of `burst` new files written by another process into the watched tree while
 *     hpcmirror watch runs: events/s = files / time until the spool holds a record for each;
 *   - memory per watched directory: hpcm-watch's and Node's RSS and the kernel's slab on a tree of
 *     10,000 empty directories minus the same on 1,000 (kernel figure: /proc/meminfo Slab, so other
 *     activity on the machine disturbs it).
 * Ratios: ours / lsyncd for startup time and RSS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const AGENT_DIST = join(REPO, 'packages/agent/dist/watch/index.js');
const RECORD_DIST = join(REPO, 'packages/agent/dist/spool/record.js');
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const FILES = Number(args[0] ?? 100_000);
const BURST = Number(args[1] ?? 10_000);
const KEEP = process.argv.includes('--keep');

/** Runs the watcher in this process until stdin closes; reports "started" with its figures. */
async function child(o) {
  const t0 = Number(o.t0);
  const { createWatcher } = await import(AGENT_DIST);
  const config = {
    flow: 'bench', user: 'bench', exchange: 'xs_bench', broker: { url: 'amqp://localhost' },
    source_root: o.root, state_dir: o.state,
    agent: { base_url: 'sftp://bench@h/', spool_dir: o.spool, host: 'bench', spool_max_bytes: 1 << 30 },
    watch: { stable_s: 1 },
  };
  const w = createWatcher({ config });
  await w.start();
  const started = Date.now() - t0;
  const m = w.metrics();
  const cpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ started, nodeRss: rssOf(process.pid), nodeCpuMs: (cpu.user + cpu.system) / 1000, watches: m.dirs[0].watches })}\n`);
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await w.stop();
    process.exit(0);
  });
}

function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** user + system CPU of a process and its waited-for children so far, ms (/proc/<pid>/stat fields 14-17, ticks of 10 ms). */
function cpuMsOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10;
  } catch {
    return 0;
  }
}

function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** inotify watches held by a process: "inotify wd:" lines in the fdinfo of its inotify fds. */
function inotifyWatches(pid) {
  let n = 0;
  let fds;
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:inotify') continue;
      n += readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    } catch { /* gone */ }
  }
  return n;
}

const slabBytes = () => Number(/Slab:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))[1]) * 1024;
const mb = (b) => (b / 1048576).toFixed(1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function buildTree(root, files, perDir) {
  mkdirSync(root, { recursive: true });
  let dirs = 0;
  for (let i = 0; i < files; i++) {
    if (i % perDir === 0) {
      mkdirSync(join(root, `d${String(i / perDir).padStart(5, '0')}`));
      dirs++;
    }
    writeFileSync(join(root, `d${String(Math.floor(i / perDir)).padStart(5, '0')}`, `f${i}.dat`), 'x'.repeat(i % 200));
  }
  return dirs;
}

/** Starts the watcher child; resolves with its figures once started. */
function startOurs(o, dirs) {
  const t0 = Date.now();
  const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify({ ...o, t0 })], {
    stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, LD_PRELOAD: '', HPCM_SHIM: '0' },
  });
  let watchesMs;
  const poll = setInterval(() => {
    if (dirs && childrenOf(p.pid).some((c) => inotifyWatches(c) >= dirs + 1)) {
      watchesMs = Date.now() - t0;
      clearInterval(poll);
    }
  }, 5);
  return new Promise((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (!out.includes('\n')) return;
      const r = JSON.parse(out.split('\n')[0]);
      const kids = childrenOf(p.pid);
      const native = kids.reduce((s, c) => s + rssOf(c), 0);
      const cpuMs = r.nodeCpuMs + kids.reduce((s, c) => s + cpuMsOf(c), 0);
      clearInterval(poll);
      resolve({ ...r, nativeRss: native, rss: r.nodeRss + native, cpuMs, watchesMs: watchesMs ?? r.started, proc: p });
    });
    p.on('exit', (code) => { clearInterval(poll); reject(new Error(`watcher child exited ${code}`)); });
  });
}

/** hpcm-watch alone (what lsyncd init=false does: a watch per directory): until its ready record. */
function startReaderAlone(root) {
  const t0 = Date.now();
  const p = spawn(join(REPO, 'native-watch/build/hpcm-watch'), [root], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    p.stdout.once('data', () => {
      const r = { ms: Date.now() - t0, rss: rssOf(p.pid), cpuMs: cpuMsOf(p.pid) };
      p.stdin.end();
      p.once('exit', () => resolve(r));
    });
    p.once('error', reject);
  });
}

async function stopOurs(r) {
  r.proc.removeAllListeners('exit');
  const gone = new Promise((res) => r.proc.once('exit', res));
  r.proc.stdin.end();
  await gone;
}

/**
 * lsyncd until it watches every directory (init=false), or until its startup rsync of the tree to
 * an identical copy has finished (catchUp: what lsyncd does on every start to catch up).
 */
async function lsyncdStartup(root, dirs, work, catchUp) {
  const name = catchUp ? 'lsyncd-init' : 'lsyncd';
  const conf = join(work, `${name}.conf.lua`);
  const log = join(work, `${name}.log`);
  const target = join(work, `${name}-target`);
  if (catchUp) spawnSync('cp', ['-a', root, target]);
  else mkdirSync(target, { recursive: true });
  writeFileSync(conf, `settings { nodaemon = true, logfile = "${log}", statusFile = "${join(work, `${name}.status`)}" }\n` +
    `sync { default.rsync, source = "${root}", target = "${target}",${catchUp ? '' : ' init = false,'} delay = 1 }\n`);
  const t0 = Date.now();
  const p = spawn('lsyncd', [conf], { stdio: 'ignore' });
  let exited = false;
  p.on('exit', () => { exited = true; });
  for (;;) {
    if (exited) throw new Error(`lsyncd exited (see ${log})`);
    if (catchUp ? (() => { try { return readFileSync(log, 'utf8').includes('finished'); } catch { return false; } })() : inotifyWatches(p.pid) >= dirs + 1) break;
    await sleep(5);
  }
  const ms = Date.now() - t0;
  const rss = rssOf(p.pid);
  const cpuMs = cpuMsOf(p.pid);
  const gone = new Promise((res) => p.once('exit', res));
  p.kill('SIGTERM');
  await gone;
  return { ms, rss, cpuMs };
}

function countRecords(spool, decodeRecords, prefix) {
  let n = 0;
  for (const f of readdirSync(spool)) {
    if (!f.endsWith('.seg')) continue;
    for (const r of decodeRecords(readFileSync(join(spool, f)), 0).records) {
      if ((r.op === 'CLOSE_W' || r.op === 'CHANGED') && r.path.toString().startsWith(prefix)) n++;
    }
  }
  return n;
}

async function main() {
  const hasLsyncd = spawnSync('lsyncd', ['-version']).status === 0;
  const { decodeRecords } = await import(RECORD_DIST);
  const work = mkdtempSync(join(tmpdir(), 'hpcm-bench-watch-'));
  try {
    const root = join(work, 'tree');
    const spool = join(work, 'spool');
    mkdirSync(spool, { mode: 0o700 });
    process.stderr.write(`building ${FILES} files ...\n`);
    const dirs = buildTree(root, FILES, 100);
    const o = { root, spool, state: join(work, 'state') };

    const first = await startOurs(o, dirs);
    await stopOurs(first);
    const again = await startOurs(o, dirs);

    // Burst: another process writes BURST new files into a new directory of the watched tree.
    const burstDir = join(root, 'burst');
    const t0 = Date.now();
    const writer = spawn(process.execPath, ['-e', `const fs=require('fs');fs.mkdirSync(${JSON.stringify(burstDir)});for(let i=0;i<${BURST};i++)fs.writeFileSync(${JSON.stringify(burstDir)}+'/b'+i,'burst '+i);`], { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: '' } });
    const writerDone = new Promise((r) => writer.on('exit', r));
    let seen = 0;
    while (seen < BURST && Date.now() - t0 < 120_000) {
      await sleep(50);
      seen = countRecords(spool, decodeRecords, burstDir);
    }
    const burstMs = Date.now() - t0;
    await writerDone;
    const writerMs = Date.now() - t0;
    await stopOurs(again);

    // Memory per watched directory: 10,000 empty directories minus 1,000.
    const per = {};
    for (const n of [1000, 10000]) {
      const r2 = join(work, `dirs${n}`);
      mkdirSync(r2);
      for (let i = 0; i < n; i++) mkdirSync(join(r2, `d${i}`));
      const slab0 = slabBytes();
      const w = await startOurs({ root: r2, spool, state: join(work, `state${n}`) });
      per[n] = { native: w.nativeRss, node: w.nodeRss, slab: slabBytes() - slab0 };
      await stopOurs(w);
    }
    const d = 9000;
    const perDir = {
      native: (per[10000].native - per[1000].native) / d,
      node: (per[10000].node - per[1000].node) / d,
      kernel: (per[10000].slab - per[1000].slab) / d,
    };

    const alone = await startReaderAlone(root);
    const ls = hasLsyncd ? await lsyncdStartup(root, dirs, work, false) : undefined;
    const lsInit = hasLsyncd ? await lsyncdStartup(root, dirs, work, true) : undefined;

    const rows = [
      ['', 'startup ms', 'CPU ms', 'RSS MB', 'watches'],
      ['hpcmirror watch, first start (baseline index)', String(first.started), String(Math.round(first.cpuMs)), mb(first.rss), String(first.watches)],
      ['hpcmirror watch, restart (index compared, no change)', String(again.started), String(Math.round(again.cpuMs)), mb(again.rss), String(again.watches)],
      ['  restart: until every directory is watched', String(again.watchesMs), '', '', ''],
      ['  of which hpcm-watch (C) RSS', '', '', mb(again.nativeRss), ''],
      ['hpcm-watch alone (a watch per directory)', String(alone.ms), String(alone.cpuMs), mb(alone.rss), String(dirs + 1)],
      ['lsyncd init=false (watches only)', ls ? String(ls.ms) : 'n/a', ls ? String(ls.cpuMs) : 'n/a', ls ? mb(ls.rss) : 'n/a', String(dirs + 1)],
      ['lsyncd default (startup rsync to an identical copy)', lsInit ? String(lsInit.ms) : 'n/a', lsInit ? String(lsInit.cpuMs) : 'n/a', lsInit ? mb(lsInit.rss) : 'n/a', String(dirs + 1)],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    process.stdout.write(`\nwatch bench: ${FILES} files in ${dirs} directories; burst of ${BURST} new files\n\n`);
    for (const r of rows) process.stdout.write(`${r[0].padEnd(w0)}  ${r[1].padStart(10)}  ${r[2].padStart(7)}  ${r[3].padStart(7)}  ${r[4].padStart(7)}\n`);
    if (ls) {
      process.stdout.write(`\nratio ours/lsyncd: restart time ${(again.started / ls.ms).toFixed(2)}x, CPU ${(again.cpuMs / Math.max(10, ls.cpuMs)).toFixed(2)}x, RSS ${(again.rss / ls.rss).toFixed(2)}x` +
        `; first start time ${(first.started / ls.ms).toFixed(2)}x; until watched ${(again.watchesMs / ls.ms).toFixed(2)}x` +
        `; hpcm-watch alone vs lsyncd init=false: time ${(alone.ms / ls.ms).toFixed(2)}x, RSS ${(alone.rss / ls.rss).toFixed(2)}x` +
        (lsInit ? `; restart vs lsyncd's startup rsync: time ${(again.started / lsInit.ms).toFixed(2)}x\n` : '\n'));
    }
    process.stdout.write(`burst: ${seen}/${BURST} files announced in ${burstMs} ms = ${Math.round(seen / (burstMs / 1000))} events/s (the writer itself took ${writerMs} ms)\n`);
    process.stdout.write(`memory per watched directory: hpcm-watch ${perDir.native.toFixed(0)} B, Node ${perDir.node.toFixed(0)} B, kernel ~${perDir.kernel.toFixed(0)} B (Slab delta, noisy)\n`);
  } finally {
    if (!KEEP) spawnSync('rm', ['-rf', work]);
    else process.stderr.write(`kept ${work}\n`);
  }
}

if (process.argv[2] === '--child') await child(JSON.parse(process.argv[3]));
else await main();
