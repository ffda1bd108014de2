#!/usr/bin/env node
// Large files only, SFTP only, with CPU time: each round copies N x MB MB with `sftp -b` (login
// subtracted; its CPU is the sftp + ssh client processes') and then with the sftp transport (4 fetches
// at once, as bench/subscriber.mjs does; CPU of this process, and of its main thread alone), and
// prints the MB/s ratio of the round. CPU per GB is steadier than MB/s on a shared, loaded host.
// Usage: node bench/sftp-large.mjs [--large 10] [--mb 100] [--rounds 3] [--concurrency 4]
//          [--cfg '{"readConcurrency":8}'] [--fsync] [--skip-plain] [--prof PREFIX (writes PREFIX.N.cpuprofile)]
// Needs `npx tsc -b packages/subscriber packages/sandbox` first.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sftpBatchArgs, writeLargeFiles } from './sftp-fixture.mjs';
const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const { values: a } = parseArgs({ options: {
  large: { type: 'string', default: '10' }, mb: { type: 'string', default: '100' }, rounds: { type: 'string', default: '3' },
  concurrency: { type: 'string', default: '4' }, cfg: { type: 'string', default: '{}' }, prof: { type: 'string' }, fsync: { type: 'boolean', default: false },
  'skip-plain': { type: 'boolean', default: false } } });
const N = Number(a.large), BYTES = Number(a.mb) * 1e6, CONC = Number(a.concurrency), cfg = JSON.parse(a.cfg);
const { startSshd } = await import(join(repo, 'packages/sandbox/dist/index.js'));
const { createSftpTransport } = await import(join(repo, 'packages/subscriber/dist/transports/index.js'));
const helperCommand = `${process.execPath} ${join(repo, 'packages/subscriber/dist/remote-helper/main.js')}`;
const work = mkdtempSync(join(tmpdir(), 'hpcm-sftpperf-'));
let sshd;
try {
  const src = join(work, 'src'); mkdirSync(src);
  const names = Array.from({ length: N }, (_, i) => `L${i}`);
  writeLargeFiles(src, names, BYTES);
  sshd = await startSshd({ dir: join(work, 'sshd') });
  const ssh = { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile };
  const sftpArgs = sftpBatchArgs(sshd);
  let childCpu = 0;
  const batch = (cmds) => new Promise((ok, ko) => { const c = spawn('bash', ['-c', 'sftp "$@"; rc=$?; times >&2; exit $rc', 'bash', ...sftpArgs], { stdio: ['pipe', 'ignore', 'pipe'] }); let e = ''; c.stderr.on('data', (d) => (e += d)); c.on('close', (code) => { const m = /\n?(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(e.trim()); childCpu = m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : NaN; code === 0 ? ok() : ko(new Error(e)); }); c.stdin.end(cmds.join('\n') + '\n'); });
  const t = async (fn) => { const s = performance.now(); await fn(); return (performance.now() - s) / 1000; };
  let k = 0;
  const fresh = () => { const d = join(work, `d${k++}`); mkdirSync(d); return d; };
  const transport = createSftpTransport({ ...ssh, helperCommand, requireHelper: true, ...cfg });
  await transport.start();
  let session;
  if (a.prof) { const { Session } = await import('node:inspector'); session = new Session(); session.connect(); session.post('Profiler.enable'); session.post('Profiler.setSamplingInterval', { interval: 200 }); }
  const ratios = [];
  for (let r = 0; r < Number(a.rounds); r++) {
    let plain = NaN;
    if (!a['skip-plain']) {
      const login = await t(() => batch(['pwd']));
      const d0 = fresh();
      plain = (N * BYTES / 1e6) / Math.max(0.001, (await t(() => batch(names.map((n) => `get ${src}/${n} ${d0}/${n}`)))) - login);
      console.log(`plain client cpu per GB (sftp+ssh): ${(childCpu / (N * BYTES / 1e9)).toFixed(2)} s`);
      rmSync(d0, { recursive: true });
    }
    const d = fresh();
    let next = 0, fetched = 0;
    if (session) session.post('Profiler.start');
    const mainCpu = () => { const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
    const m0 = mainCpu(), c0 = process.cpuUsage();
    const secs = await t(() => Promise.all(Array.from({ length: CONC }, async () => { while (next < N) { const i = next++; const res = await transport.fetch(Buffer.from(`${src}/${names[i]}`), { dirPath: Buffer.from(d), tempName: Buffer.from(`.t${i}`) }, { fsync: a.fsync }); fetched += res.bytes; } })));
    if (session) await new Promise((ok) => session.post('Profiler.stop', (err, res) => { writeFileSync(`${a.prof}.${r}.cpuprofile`, JSON.stringify(res.profile)); ok(); }));
    if (fetched !== N * BYTES) throw new Error('short');
    rmSync(d, { recursive: true });
    const cu = process.cpuUsage(c0), mc = mainCpu() - m0;
    const ours = (N * BYTES / 1e6) / secs;
    console.log(`cpu per GB: main ${(mc / (N * BYTES / 1e9)).toFixed(2)} s, process ${((cu.user + cu.system) / 1e6 / (N * BYTES / 1e9)).toFixed(2)} s (user ${(cu.user/1e6).toFixed(2)} sys ${(cu.system/1e6).toFixed(2)})`);
    ratios.push(ours / plain);
    console.log(`round ${r}: plain ${plain.toFixed(1)} MB/s  ours ${ours.toFixed(1)} MB/s  ratio ${(ours / plain).toFixed(2)}  load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  }
  const s = [...ratios].sort((x, y) => x - y);
  console.log(`median ratio ${s[Math.floor(s.length / 2)].toFixed(2)} cfg=${a.cfg} conc=${CONC}`);
  await transport.stop();
} finally { await sshd?.stop().catch(() => undefined); rmSync(work, { recursive: true, force: true }); }
