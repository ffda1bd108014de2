#!/usr/bin/env node
// The race (issue 7): one writer, several mirrors watching it side by side in one run.
//   A:  a writer creates N new 4 KiB files as fast as it can (default 10,000)
//   B:  one 4 KiB file every 100 ms for 60 s        B': one every 10 ms for 60 s
// Mirrors, all of the same source directory at once, all through the sandbox's loopback sshd:
//   hpcmirror   the sandbox (`hpcmirror sandbox up --transport sftp`), writer under `hpcmirror shim run`
//   lsyncd d0   lsyncd (Debian package) rsyncssh mode, delay 0, pushing to the sshd
//   lsyncd d1   the same with delay 1
//   rsync -a    one `rsync -a` over ssh started when the writer ends (the batch limit)
// For each: time from the first file's creation until the destination holds every file, files/s (files /
// that time), and latency per file from its creation mtime to its first appearance on the
// destination (each destination listed every 20 ms by its own poller process).
// Usage: node bench/e2e.mjs [--short] [--files N] [--b-seconds S] [--only A,B,B2] [--settle-s S] [--keep]
//                           [--mirrors hpcmirror,lsyncd0,lsyncd1,rsync] [--plot FILE.png|.html]
//   --short: A with 2,000 files, B and B' for 20 s (a quick check).
//   --mirrors: race only these (e.g. `--mirrors hpcmirror` to see what hpcmirror alone costs).
//   --plot: hpcmirror's latency log drawn by `audit --plot`.
//   HPCM_SANDBOX_INLINE_MAX_BYTES=0 in the environment: the sandbox's agent inlines no files (agent.inline_max_bytes).
// Also prints hpcmirror's CPU per file: CPU time (/proc utime+stime, children included) of each sandbox
// process and of what it started (sshd sessions, the remote helper), from the writer's start until the
// last file arrived, and 10 s later (what ran after: acks, anti-entropy); with other mirrors in the
// race, sshd's share includes theirs.
// Needs `npx tsc -b` (the CLI's dist), the shim built, lsyncd and rsync installed (scripts/setup.sh).
import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuDelta, cpuSnapshot, reapedChildrenCpuMs } from './proc-cpu.mjs';

const here = fileURLToPath(import.meta.url);
const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const cli = join(repo, 'packages/cli/dist/bin.js');
const nowMs = () => performance.timeOrigin + performance.now();

// ---- poller mode: `node e2e.mjs --poll DIR OUT N` lists DIR every 20 ms, records first sightings ----
if (process.argv[2] === '--poll') {
  const [dir, out, nText] = process.argv.slice(3);
  const want = Number(nText);
  const seen = new Map();
  let stop = false;
  process.on('SIGTERM', () => { stop = true; });
  while (!stop && seen.size < want) {
    const began = nowMs();
    let names = [];
    try { names = readdirSync(dir); } catch { /* not there yet */ }
    const t = nowMs(); // present at the latest when the listing returned
    for (const n of names) if (n[0] !== '.' && !seen.has(n)) seen.set(n, t);
    await sleep(Math.max(0, 20 - (nowMs() - began)));
  }
  writeFileSync(out, JSON.stringify(Object.fromEntries(seen)));
  process.exit(0);
}

const { values: args } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    files: { type: 'string' },
    'b-seconds': { type: 'string' },
    only: { type: 'string', default: 'A,B,B2' },
    mirrors: { type: 'string', default: 'hpcmirror,lsyncd0,lsyncd1,rsync' },
    'settle-s': { type: 'string' },
    keep: { type: 'boolean', default: false },
    plot: { type: 'string' },
  },
});
const FILES_A = Number(args.files ?? (args.short ? 2000 : 10_000));
const B_SECONDS = Number(args['b-seconds'] ?? (args.short ? 20 : 60));
const SETTLE_S = Number(args['settle-s'] ?? (args.short ? 120 : 300));
const ONLY = new Set(args.only.split(','));
const MIRRORS = new Set(args.mirrors.split(','));
for (const m of MIRRORS) if (!['hpcmirror', 'lsyncd0', 'lsyncd1', 'rsync'].includes(m)) throw new Error(`--mirrors: unknown mirror ${m}`);
const CPU_TAIL_MS = 10_000;
const WORKLOADS = [
  { key: 'A', label: `A: ${FILES_A} x 4 KiB, flat out`, n: FILES_A, intervalMs: 0 },
  { key: 'B', label: `B: 1 file / 100 ms, ${B_SECONDS} s`, n: Math.round((B_SECONDS * 1000) / 100), intervalMs: 100 },
  { key: 'B2', label: `B': 1 file / 10 ms, ${B_SECONDS} s`, n: Math.round((B_SECONDS * 1000) / 10), intervalMs: 10 },
].filter((w) => ONLY.has(w.key));

const work = mkdtempSync(join(tmpdir(), 'hpcm-bench-e2e-'));
const sbDir = join(work, 'sb');
const children = new Set();
let sandboxUp = false;

function run(cmd, argv, opts = {}) {
  return new Promise((ok, fail) => {
    execFile(cmd, argv, { maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) =>
      err ? fail(new Error(`${cmd} ${argv.join(' ')} failed: ${err.message}\n${stdout}${stderr}`)) : ok(stdout));
  });
}

function start(cmd, argv, opts = {}) {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
  let stderr = '';
  child.stderr?.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  children.add(child);
  const done = new Promise((ok) => child.on('exit', (code, signal) => { children.delete(child); ok({ code, signal, stderr }); }));
  return { child, done };
}

async function cleanup() {
  for (const c of children) c.kill('SIGTERM');
  if (sandboxUp) await run(process.execPath, [cli, 'sandbox', 'down', '--dir', sbDir], { timeout: 300_000 }).catch((e) => console.error(e.message));
  sandboxUp = false;
  if (!args.keep) rmSync(work, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void cleanup().then(() => process.exit(130)));

const WRITER = `
import os, sys, time
d, n, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 1000
buf = os.urandom(4096)
t0 = time.monotonic()
for i in range(n):
    if interval:
        delay = t0 + i * interval - time.monotonic()
        if delay > 0: time.sleep(delay)
    with open(os.path.join(d, 'f%06d' % i), 'wb') as f:
        f.write(buf)
`;

function lsyncdConfig(state, src, target, delay, name) {
  const ssh = state.ssh.sshConfigFile;
  return `settings {
  logfile = "${join(work, `${name}.log`)}",
  statusFile = "${join(work, `${name}.status`)}",
  nodaemon = true,
}
sync {
  default.rsyncssh,
  source = "${src}",
  host = "${state.ssh.hostAlias}",
  targetdir = "${target}",
  delay = ${delay},
  rsync = { archive = true, rsh = "/usr/bin/ssh -F ${ssh}" },
  ssh = { _extra = { "-F", "${ssh}" } },
}
`;
}

async function lsyncdReady(log, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (existsSync(log) && /Startup of .* finished/.test(readFileSync(log, 'utf8'))) return;
    await sleep(200);
  }
  throw new Error(`lsyncd did not finish its startup within ${timeoutMs / 1000} s (${log})`);
}

function printCpu(w, cpu, tail) {
  const toArrival = cpuDelta(cpu.before, cpu.arrived);
  const withTail = cpuDelta(cpu.before, tail);
  const keys = [...new Set([...toArrival.keys(), ...withTail.keys()])].sort();
  const per = (ms) => (ms / w.n).toFixed(2);
  console.log(`\n${w.label}: hpcmirror CPU ms per file (${w.n} files; load ${loadavg()[0].toFixed(1)})`);
  console.log(`| process | until the last file arrived | +${CPU_TAIL_MS / 1000} s |`);
  console.log('|---|---|---|');
  let a = 0;
  let t = 0;
  for (const k of keys) {
    const x = toArrival.get(k) ?? 0;
    const y = withTail.get(k) ?? 0;
    a += x; t += y;
    if (y >= 0.5 * w.n / 100 || x >= 0.5 * w.n / 100) console.log(`| ${k} | ${per(x)} | ${per(y)} |`);
  }
  console.log(`| all of the above | ${per(a)} | ${per(t)} |`);
  console.log(`| writer (shim run + python under the shim) | ${per(cpu.writerMs)} | |`);
}

const q = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] : NaN);
const fmtMs = (ms) => (Number.isNaN(ms) ? '-' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

async function race(state, w) {
  const src = join(state.src, w.key);
  await run(process.execPath, [cli, 'shim', 'run', '--sandbox', sbDir, '--', 'mkdir', '-p', src]);
  const mirrors = [
    { key: 'hpcmirror', name: 'hpcmirror (sftp)', dir: join(state.dst, w.key) },
    { key: 'lsyncd0', name: 'lsyncd delay 0', dir: join(work, 'lsyncd0', w.key), delay: 0, tag: `lsyncd0-${w.key}` },
    { key: 'lsyncd1', name: 'lsyncd delay 1', dir: join(work, 'lsyncd1', w.key), delay: 1, tag: `lsyncd1-${w.key}` },
    { key: 'rsync', name: 'rsync -a once', dir: join(work, 'rsync', w.key), batch: true },
  ].filter((m) => MIRRORS.has(m.key));
  for (const m of mirrors.filter((x) => x.delay !== undefined)) {
    mkdirSync(m.dir, { recursive: true });
    const conf = join(work, `${m.tag}.lua`);
    writeFileSync(conf, lsyncdConfig(state, `${src}/`, `${m.dir}/`, m.delay, m.tag));
    m.proc = start('lsyncd', [conf]);
    await lsyncdReady(join(work, `${m.tag}.log`), 120_000);
  }
  for (const m of mirrors) {
    m.out = join(work, `seen-${w.key}-${mirrors.indexOf(m)}.json`);
    m.poller = start(process.execPath, [here, '--poll', m.dir, m.out, String(w.n)]);
  }
  console.log(`${w.label}: writing (load ${loadavg()[0].toFixed(1)})`);
  const hpcm = mirrors.find((m) => m.key === 'hpcmirror');
  const cpuRoots = Object.fromEntries(Object.entries(state.pids).filter(([name]) => name !== 'epmd'));
  const cpu = { before: cpuSnapshot(cpuRoots), writerBefore: reapedChildrenCpuMs() };
  const hpcmArrived = hpcm?.poller.done.then(() => { cpu.arrived = cpuSnapshot(cpuRoots); });
  const t0 = nowMs();
  await run(process.execPath, [cli, 'shim', 'run', '--sandbox', sbDir, '--', 'python3', '-c', WRITER, src, String(w.n), String(w.intervalMs)], { timeout: 3_600_000 });
  const tWriterEnd = nowMs();
  cpu.writerMs = reapedChildrenCpuMs() - cpu.writerBefore;
  const rsync = mirrors.find((m) => m.batch);
  if (rsync) {
    mkdirSync(rsync.dir, { recursive: true });
    await run('rsync', ['-a', '-e', `ssh -F ${state.ssh.sshConfigFile}`, `${src}/`, `${state.ssh.hostAlias}:${rsync.dir}/`], { timeout: 3_600_000 });
    rsync.endMs = nowMs();
  }
  console.log(`${w.label}: writer took ${((tWriterEnd - t0) / 1000).toFixed(1)} s${rsync ? `, rsync after it ${((rsync.endMs - tWriterEnd) / 1000).toFixed(1)} s` : ''}; waiting for the mirrors (at most ${SETTLE_S} s)`);
  const deadline = tWriterEnd + SETTLE_S * 1000;
  await Promise.race([Promise.all(mirrors.map((m) => m.poller.done)), sleep(Math.max(0, deadline - nowMs()))]);
  if (hpcm) {
    await Promise.race([hpcmArrived, sleep(Math.max(0, deadline - nowMs()))]);
    cpu.arrived ??= cpuSnapshot(cpuRoots);
    await sleep(CPU_TAIL_MS);
    printCpu(w, cpu, cpuSnapshot(cpuRoots));
  }
  for (const m of mirrors) m.poller.child.kill('SIGTERM');
  await Promise.all(mirrors.map((m) => m.poller.done));
  for (const m of mirrors) if (m.proc) { m.proc.child.kill('SIGTERM'); await m.proc.done; }

  const mtimes = new Map(readdirSync(src).map((n) => [n, Number(lstatSync(join(src, n), { bigint: true }).mtimeNs) / 1e6]));
  // From the first file's creation, not the writer's start (the CLI and python take seconds to start here).
  const first = Math.min(...mtimes.values());
  const rows = [];
  for (const m of mirrors) {
    const seen = existsSync(m.out) ? JSON.parse(readFileSync(m.out, 'utf8')) : {};
    const lat = [];
    let last = 0;
    for (const [n, t] of Object.entries(seen)) {
      const mt = mtimes.get(n);
      if (mt === undefined) continue;
      lat.push(Math.max(0, t - mt));
      last = Math.max(last, t);
    }
    lat.sort((a, b) => a - b);
    const complete = lat.length >= w.n;
    const secs = (last - first) / 1000;
    rows.push({
      workload: w.label, mirror: m.name, files: lat.length, expected: w.n, complete,
      secs, filesPerSec: complete ? w.n / secs : NaN,
      // Not complete by the deadline, so complete later: fewer files/s than this.
      filesPerSecAtMost: w.n / ((Math.max(deadline, last) - first) / 1000),
      p50: q(lat, 0.5), p99: q(lat, 0.99), max: lat.length ? lat[lat.length - 1] : NaN,
    });
  }
  return rows;
}

function printTable(rows, header) {
  const cols = ['workload', 'mirror', 'complete after', 'files/s', 'latency p50', 'p99', 'max'];
  const lines = rows.map((r) => [
    r.workload, r.mirror, r.complete ? `${r.secs.toFixed(1)} s` : `incomplete ${r.files}/${r.expected}`,
    r.complete ? r.filesPerSec.toFixed(0) : `< ${r.filesPerSecAtMost.toFixed(r.filesPerSecAtMost < 10 ? 1 : 0)}`,
    ...[r.p50, r.p99, r.max].map((ms) => `${fmtMs(ms)}${r.complete ? '' : '*'}`),
  ]);
  console.log(`\n${header}\n`);
  console.log(`| ${cols.join(' | ')} |`);
  console.log(`|${cols.map(() => '---').join('|')}|`);
  for (const l of lines) console.log(`| ${l.join(' | ')} |`);
  if (rows.some((r) => !r.complete)) console.log(`\n* of the files that had arrived by the deadline (${SETTLE_S} s after the writer ended); the rest took longer`);
  const lsyncdBest = (wl) => Math.max(...rows.filter((r) => r.workload === wl && r.mirror.startsWith('lsyncd')).map((r) => (r.complete ? r.filesPerSec : r.filesPerSecAtMost)));
  console.log('');
  for (const wl of new Set(rows.map((r) => r.workload))) {
    const h = rows.find((r) => r.workload === wl && r.mirror.startsWith('hpcmirror'));
    const best = lsyncdBest(wl);
    const bound = rows.some((r) => r.workload === wl && r.mirror.startsWith('lsyncd') && !r.complete) ? ' at least' : '';
    if (h && Number.isFinite(best) && h.complete) console.log(`${wl}: hpcmirror files/s / best lsyncd files/s =${bound} ${(h.filesPerSec / best).toFixed(2)}x (target >= 2x)`);
  }
}

try {
  const loadBefore = loadavg()[0];
  console.log(`bench e2e: sandbox up (sftp) in ${sbDir}; load ${loadBefore.toFixed(1)}`);
  sandboxUp = true;
  await run(process.execPath, [cli, 'sandbox', 'up', '--dir', sbDir, '--transport', 'sftp'], { timeout: 900_000 });
  const state = JSON.parse(readFileSync(join(sbDir, 'sandbox.json'), 'utf8'));
  const rows = [];
  const loads = [loadBefore];
  for (const w of WORKLOADS) {
    rows.push(...(await race(state, w)));
    loads.push(loadavg()[0]);
  }
  if (args.plot) {
    // hpcmirror's own latency log (shim saw the change -> destination rename done) of the whole run.
    const audit = await run(process.execPath, [cli, 'audit', '--sandbox', sbDir, '--plot', resolve(args.plot)], { timeout: 900_000 }).catch((e) => e.message);
    console.log(audit.trim().split('\n').slice(-3).join('\n'));
  }
  printTable(rows, `bench/e2e (${args.short ? 'short' : 'full'} run, ${new Date().toISOString().slice(0, 16)}Z, 2 cores, load average ${Math.min(...loads).toFixed(0)}-${Math.max(...loads).toFixed(0)}; all mirrors at once on one writer)`);
} catch (err) {
  console.error(`bench e2e failed: ${err.message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
