#!/usr/bin/env node
// Subscriber transports against baselines in the same run, on a loopback sshd:
//   small files: N x 4 KiB (files/s), large files: M x SIZE MB (MB/s), fsync off and on;
//   each transport (local, sftp, rsync) beside plain `sftp -b` (batch of gets) and `rsync -a`.
// Usage: node bench/subscriber.mjs [--small 10000] [--large 20] [--large-mb 100] [--concurrency 32]
//                                  [--only local,sftp,rsync] [--no-fsync-pass]
// Needs `npx tsc -b packages/subscriber packages/sandbox` first. Prints ratios against the baselines.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    small: { type: 'string', default: '10000' },
    large: { type: 'string', default: '20' },
    'large-mb': { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '32' },
    only: { type: 'string', default: 'local,sftp,rsync' },
    'no-fsync-pass': { type: 'boolean', default: false },
  },
});
const SMALL = Number(args.small);
const LARGE = Number(args.large);
const LARGE_BYTES = Number(args['large-mb']) * 1e6;
const CONCURRENCY = Number(args.concurrency);
const ONLY = new Set(args.only.split(','));
const FSYNC_PASSES = args['no-fsync-pass'] ? [false] : [false, true];

const { startSshd } = await import(join(repo, 'packages/sandbox/dist/index.js'));
const { createLocalTransport, createSftpTransport, createRsyncTransport } = await import(
  join(repo, 'packages/subscriber/dist/transports/index.js')
);
const helperCommand = `${process.execPath} ${join(repo, 'packages/subscriber/dist/remote-helper/main.js')}`;

const work = mkdtempSync(join(tmpdir(), 'hpcm-bench-sub-'));
let sshd;
const cleanup = async () => {
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

function seconds(start) {
  return (performance.now() - start) / 1000;
}

async function timed(fn) {
  // Every run starts with no dirty pages left by the one before (the baselines write first, and an
  // untimed write-back of their gigabytes would otherwise land in the runs that follow).
  spawnSync('sync');
  const start = performance.now();
  await fn();
  return seconds(start);
}

const results = [];
function record(what, set, fsync, secs, files, bytes) {
  const row = { what, set, fsync, secs, filesPerSec: files / secs, mbPerSec: bytes / 1e6 / secs };
  results.push(row);
  console.log(
    `${what.padEnd(22)} ${set.padEnd(6)} fsync=${fsync ? 'on ' : 'off'} ${secs.toFixed(2).padStart(7)} s ` +
      `${row.filesPerSec.toFixed(0).padStart(7)} files/s ${row.mbPerSec.toFixed(1).padStart(7)} MB/s`,
  );
}

try {
  console.log(`setup: ${SMALL} x 4 KiB, ${LARGE} x ${LARGE_BYTES / 1e6} MB, fetch concurrency ${CONCURRENCY}`);
  const src = join(work, 'src');
  mkdirSync(join(src, 'small'), { recursive: true });
  mkdirSync(join(src, 'large'), { recursive: true });
  const block = randomBytes(4096);
  for (let i = 0; i < SMALL; i++) writeFileSync(join(src, 'small', `f${i}`), block);
  const chunk = randomBytes(4 << 20);
  for (let i = 0; i < LARGE; i++) {
    const parts = [];
    for (let left = LARGE_BYTES; left > 0; left -= chunk.length) parts.push(left >= chunk.length ? chunk : chunk.subarray(0, left));
    writeFileSync(join(src, 'large', `L${i}`), Buffer.concat(parts));
  }
  const sets = {
    small: { dir: join(src, 'small'), names: Array.from({ length: SMALL }, (_, i) => `f${i}`), bytes: SMALL * 4096 },
    large: { dir: join(src, 'large'), names: Array.from({ length: LARGE }, (_, i) => `L${i}`), bytes: LARGE * LARGE_BYTES },
  };
  sshd = await startSshd({ dir: join(work, 'sshd') });
  const ssh = { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile };
  const sshArgs = [...sshd.sshArgs];
  let destCount = 0;
  const freshDest = () => {
    const dir = join(work, `dst${destCount++}`);
    mkdirSync(dir);
    return dir;
  };

  // Baseline 1: plain sftp, one batch of gets; the login is timed apart and subtracted.
  const sftpBase = ['-q', '-F', 'none', ...sshArgs.slice(2).map(String)];
  const sftpArgs = ['-b', '-', ...sftpBase.map((a) => (a === '-p' ? '-P' : a)), `${ssh.user}@${ssh.host}`];
  const sftpBatch = (cmds) =>
    new Promise((resolveBatch, reject) => {
      const child = spawn('sftp', sftpArgs, { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c) => (err += c));
      child.on('close', (code) => (code === 0 ? resolveBatch() : reject(new Error(`sftp exited ${code}: ${err}`))));
      child.stdin.end(cmds.join('\n') + '\n');
    });
  const login = await timed(() => sftpBatch(['pwd']));
  for (const [set, { dir, names, bytes }] of Object.entries(sets)) {
    if (names.length === 0) continue;
    const dest = freshDest();
    const secs = await timed(() => sftpBatch(names.map((n) => `get ${dir}/${n} ${dest}/${n}`)));
    record('plain sftp -b', set, false, Math.max(0.001, secs - login), names.length, bytes);
  }

  // Baseline 2: rsync -a pull of each set (login included: rsync cannot pay it apart).
  for (const fsync of FSYNC_PASSES) {
    for (const [set, { dir, names, bytes }] of Object.entries(sets)) {
      if (names.length === 0) continue;
      const dest = freshDest();
      const e = ['ssh', ...sshArgs].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ');
      const secs = await timed(() => run('rsync', ['-a', ...(fsync ? ['--fsync'] : []), '-e', e, `${ssh.user}@${ssh.host}:${dir}/`, `${dest}/`]));
      record('plain rsync -a', set, fsync, secs, names.length, bytes);
    }
  }

  const transports = {
    local: () => createLocalTransport(),
    sftp: () => createSftpTransport({ ...ssh, helperCommand, requireHelper: true }),
    rsync: () => createRsyncTransport({ ...ssh, helperCommand, maxBatch: 2500, opTimeoutMs: 120_000 }),
  };
  for (const [name, make] of Object.entries(transports)) {
    if (!ONLY.has(name)) continue;
    const transport = make();
    await transport.start();
    try {
      for (const fsync of FSYNC_PASSES) {
        for (const [set, { dir, names, bytes }] of Object.entries(sets)) {
          if (names.length === 0) continue;
          const dest = freshDest();
          const concurrency = set === 'large' ? Math.min(4, CONCURRENCY) : CONCURRENCY;
          let next = 0;
          let fetched = 0;
          const tempName = (i) => Buffer.from(`.hpcm.${i.toString(16).padStart(16, '0')}`);
          // A transport that batches (rsync) gets the backlog as batches, as the subscriber hands it over.
          const batched = transport.features.fetchMany && set === 'small';
          const secs = await timed(async () =>
            batched
              ? // the whole backlog at once: the transport splits it into batches and runs a few rsyncs
                await transport.fetchMany(
                  names.map((n, i) => ({ src: Buffer.from(`${dir}/${n}`), dest: { dirPath: Buffer.from(dest), tempName: tempName(i) } })),
                  { fsync },
                ).then((outcomes) => {
                  for (const outcome of outcomes) {
                    if (!outcome.ok) throw outcome.error;
                    fetched += outcome.bytes;
                  }
                })
              : await Promise.all(
              Array.from({ length: concurrency }, async () => {
                while (next < names.length) {
                  const i = next++;
                  const r = await transport.fetch(
                    Buffer.from(`${dir}/${names[i]}`),
                    { dirPath: Buffer.from(dest), tempName: tempName(i) },
                    { fsync },
                  );
                  fetched += r.bytes;
                }
              }),
            ),
          );
          if (fetched !== bytes) throw new Error(`${name} ${set}: fetched ${fetched} bytes, expected ${bytes}`);
          record(`hpcmirror ${name}`, set, fsync, secs, names.length, bytes);
        }
      }
    } finally {
      await transport.stop();
    }
  }

  const find = (what, set, fsync = false) => results.find((r) => r.what === what && r.set === set && r.fsync === fsync);
  console.log('\nratios (same run):');
  for (const set of ['small', 'large']) {
    const plain = find('plain sftp -b', set);
    const ours = find('hpcmirror sftp', set);
    if (plain && ours) {
      const ratio = set === 'small' ? ours.filesPerSec / plain.filesPerSec : ours.mbPerSec / plain.mbPerSec;
      const target = set === 'small' ? 0.7 : 0.8;
      console.log(`  sftp transport / plain sftp, ${set} ${set === 'small' ? 'files/s' : 'MB/s'}: ${ratio.toFixed(2)} (target >= ${target})`);
    }
    for (const fsync of FSYNC_PASSES) {
      const plainRsync = find('plain rsync -a', set, fsync);
      const oursRsync = find('hpcmirror rsync', set, fsync);
      if (plainRsync && oursRsync) {
        const ratio = set === 'small' ? oursRsync.filesPerSec / plainRsync.filesPerSec : oursRsync.mbPerSec / plainRsync.mbPerSec;
        console.log(`  rsync transport / rsync -a${fsync ? ' --fsync' : ''}, ${set}: ${ratio.toFixed(2)}`);
      }
    }
  }
} finally {
  await cleanup();
}
