#!/usr/bin/env node
// Subscriber transports against baselines in the same run, on a loopback sshd:
//   small files: N x 4 KiB (files/s), large files: M x SIZE MB (MB/s), fsync off and on;
//   each transport (local, sftp, rsync) beside plain `sftp -b` (a batch of `get`, or `get -f` with fsync)
//   and `rsync -a` (with `--fsync` when fsync is on): fsync-for-fsync.
// Every round runs each (set, fsync) group's contenders back to back in an order rotated per round, so no
// contender always goes first or last; each timed run starts after `sync` and its copy is removed after it,
// so every run starts from the same disk and page-cache state. The ratio of a round compares runs made
// seconds apart; the median over rounds is the figure, since one run on a shared host varies by 2x.
// Usage: node bench/subscriber.mjs [--small 10000] [--large 20] [--large-mb 100] [--concurrency 32]
//                                  [--rounds 3] [--only local,sftp,rsync] [--no-fsync-pass]
// Needs `npx tsc -b packages/subscriber packages/sandbox` first. Prints ratios against the baselines.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sftpBatchArgs, writeLargeFiles } from './sftp-fixture.mjs';

const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    small: { type: 'string', default: '10000' },
    large: { type: 'string', default: '20' },
    'large-mb': { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: 'local,sftp,rsync' },
    'no-fsync-pass': { type: 'boolean', default: false },
  },
});
const SMALL = Number(args.small);
const LARGE = Number(args.large);
const LARGE_BYTES = Number(args['large-mb']) * 1e6;
const CONCURRENCY = Number(args.concurrency);
const ROUNDS = Number(args.rounds);
const ONLY = new Set(args.only.split(','));
const FSYNC_PASSES = args['no-fsync-pass'] ? [false] : [false, true];

const { startSshd } = await import(join(repo, 'packages/sandbox/dist/index.js'));
const { createLocalTransport, createSftpTransport, createRsyncTransport } = await import(
  join(repo, 'packages/subscriber/dist/transports/index.js')
);
const helperCommand = `${process.execPath} ${join(repo, 'packages/subscriber/dist/remote-helper/main.js')}`;

const work = mkdtempSync(join(tmpdir(), 'hpcm-bench-sub-'));
let sshd;
const started = [];
const cleanup = async () => {
  for (const transport of started) await transport.stop().catch(() => undefined);
  await sshd?.stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void cleanup().then(() => process.exit(128 + (sig === 'SIGINT' ? 2 : 15))));

function run(cmd, argv, opts = {}) {
  return new Promise((resolveRun, reject) => {
    execFile(cmd, argv, { maxBuffer: 64 << 20, ...opts }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} failed: ${err.message}\n${stderr}`)) : resolveRun(stdout),
    );
  });
}

async function timed(fn) {
  spawnSync('sync');
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rate = (set, row) => (set === 'small' ? row.filesPerSec : row.mbPerSec);
const unit = (set) => (set === 'small' ? 'files/s' : 'MB/s');

const results = [];
function record(round, what, set, fsync, secs, files, bytes) {
  const row = { round, what, set, fsync, secs, filesPerSec: files / secs, mbPerSec: bytes / 1e6 / secs };
  results.push(row);
  console.log(
    `r${round} ${what.padEnd(22)} ${set.padEnd(6)} fsync=${fsync ? 'on ' : 'off'} ${secs.toFixed(2).padStart(7)} s ` +
      `${row.filesPerSec.toFixed(0).padStart(7)} files/s ${row.mbPerSec.toFixed(1).padStart(7)} MB/s`,
  );
}

try {
  console.log(
    `setup: ${SMALL} x 4 KiB, ${LARGE} x ${LARGE_BYTES / 1e6} MB, fetch concurrency ${CONCURRENCY}, ${ROUNDS} rounds, ` +
      `load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`,
  );
  const src = join(work, 'src');
  mkdirSync(join(src, 'small'), { recursive: true });
  mkdirSync(join(src, 'large'), { recursive: true });
  const block = randomBytes(4096);
  for (let i = 0; i < SMALL; i++) writeFileSync(join(src, 'small', `f${i}`), block);
  const largeNames = Array.from({ length: LARGE }, (_, i) => `L${i}`);
  writeLargeFiles(join(src, 'large'), largeNames, LARGE_BYTES);
  const sets = Object.entries({
    small: { dir: join(src, 'small'), names: Array.from({ length: SMALL }, (_, i) => `f${i}`), bytes: SMALL * 4096 },
    large: { dir: join(src, 'large'), names: largeNames, bytes: LARGE * LARGE_BYTES },
  }).filter(([, { names }]) => names.length > 0);
  sshd = await startSshd({ dir: join(work, 'sshd') });
  const ssh = { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile };
  const sshArgs = [...sshd.sshArgs];

  // Plain sftp: one batch of gets; the login is timed apart (in the same round) and subtracted.
  const sftpArgs = sftpBatchArgs(sshd);
  const sftpBatch = (cmds) =>
    new Promise((resolveBatch, reject) => {
      const child = spawn('sftp', sftpArgs, { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c) => (err += c));
      child.on('close', (code) => (code === 0 ? resolveBatch() : reject(new Error(`sftp exited ${code}: ${err}`))));
      child.stdin.end(cmds.join('\n') + '\n');
    });
  const rsyncShell = ['ssh', ...sshArgs].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ');

  // A contender copies one set into an empty directory and returns its seconds.
  const contenders = [
    {
      what: 'plain sftp -b',
      copy: async ({ dir, names }, dest, fsync) => {
        const login = await timed(() => sftpBatch(['pwd']));
        const get = fsync ? 'get -f' : 'get';
        const secs = await timed(() => sftpBatch(names.map((n) => `${get} ${dir}/${n} ${dest}/${n}`)));
        return Math.max(0.001, secs - login);
      },
    },
    {
      what: 'plain rsync -a',
      // login included: rsync cannot pay it apart
      copy: ({ dir }, dest, fsync) =>
        timed(() => run('rsync', ['-a', ...(fsync ? ['--fsync'] : []), '-e', rsyncShell, `${ssh.user}@${ssh.host}:${dir}/`, `${dest}/`])),
    },
  ];
  const transports = {
    local: () => createLocalTransport(),
    sftp: () => createSftpTransport({ ...ssh, helperCommand, requireHelper: true }),
    rsync: () => createRsyncTransport({ ...ssh, helperCommand, maxBatch: 2500, opTimeoutMs: 120_000 }),
  };
  for (const [name, make] of Object.entries(transports)) {
    if (!ONLY.has(name)) continue;
    const transport = make();
    await transport.start();
    started.push(transport);
    const tempName = (i) => Buffer.from(`.hpcm.${i.toString(16).padStart(16, '0')}`);
    contenders.push({
      what: `hpcmirror ${name}`,
      copy: async ({ dir, names, bytes }, dest, fsync, set) => {
        const concurrency = set === 'large' ? Math.min(4, CONCURRENCY) : CONCURRENCY;
        let next = 0;
        let fetched = 0;
        // A transport that batches (rsync) gets the backlog as batches, as the subscriber hands it over.
        const batched = transport.features.fetchMany && set === 'small';
        const secs = await timed(async () => {
          if (batched) {
            const outcomes = await transport.fetchMany(
              names.map((n, i) => ({ src: Buffer.from(`${dir}/${n}`), dest: { dirPath: Buffer.from(dest), tempName: tempName(i) } })),
              { fsync },
            );
            for (const outcome of outcomes) {
              if (!outcome.ok) throw outcome.error;
              fetched += outcome.bytes;
            }
            return;
          }
          await Promise.all(
            Array.from({ length: concurrency }, async () => {
              while (next < names.length) {
                const i = next++;
                const r = await transport.fetch(Buffer.from(`${dir}/${names[i]}`), { dirPath: Buffer.from(dest), tempName: tempName(i) }, { fsync });
                fetched += r.bytes;
              }
            }),
          );
        });
        if (fetched !== bytes) throw new Error(`${name} ${set}: fetched ${fetched} bytes, expected ${bytes}`);
        return secs;
      },
    });
  }

  let destCount = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [set, data] of sets) {
      for (const fsync of FSYNC_PASSES) {
        const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
        for (const { what, copy } of order) {
          const dest = join(work, `dst${destCount++}`);
          mkdirSync(dest);
          const secs = await copy(data, dest, fsync, set);
          record(round, what, set, fsync, secs, data.names.length, data.bytes);
          rmSync(dest, { recursive: true, force: true });
        }
      }
    }
  }

  const rows = (what, set, fsync) => results.filter((r) => r.what === what && r.set === set && r.fsync === fsync);
  console.log(`\nmedians over ${ROUNDS} rounds, and the median of the per-round ratios (load now ${loadavg().map((x) => x.toFixed(1)).join(' ')}):`);
  const pairs = [
    ['hpcmirror sftp', 'plain sftp -b', { small: 0.7, large: 0.8 }],
    ['hpcmirror rsync', 'plain rsync -a', undefined],
  ];
  for (const [set] of sets) {
    for (const fsync of FSYNC_PASSES) {
      for (const [ours, base, targets] of pairs) {
        const o = rows(ours, set, fsync);
        const b = rows(base, set, fsync);
        if (o.length === 0 || b.length === 0) continue;
        const ratios = o.map((row) => rate(set, row) / rate(set, b.find((x) => x.round === row.round)));
        const target = targets ? ` (target >= ${targets[set]})` : '';
        console.log(
          `  ${set.padEnd(5)} fsync=${fsync ? 'on ' : 'off'} ${ours} ${median(o.map((r) => rate(set, r))).toFixed(1)} / ${base} ` +
            `${median(b.map((r) => rate(set, r))).toFixed(1)} ${unit(set)}: ratio median ${median(ratios).toFixed(2)} ` +
            `[${ratios.map((r) => r.toFixed(2)).join(' ')}]${target}`,
        );
      }
    }
  }
} finally {
  await cleanup();
}
