import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseConfig, silentLogger } from '@hpcmirror/core';
import { checkSshSource } from '../../packages/cli/src/ops/doctor/ssh-source.js';
import { checkSpoolDir } from '../../packages/cli/src/ops/doctor/writable-dirs.js';
import { checkFileModes } from '../../packages/cli/src/ops/doctor/file-modes.js';
import { checkBrokerLogin } from '../../packages/cli/src/ops/doctor/broker-login.js';
import { checkShimLibrary } from '../../packages/cli/src/ops/doctor/shim-library.js';
import { checkClock } from '../../packages/cli/src/ops/doctor/clock-skew.js';
import { checkLinger } from '../../packages/cli/src/ops/doctor/linger.js';

const infra = inject('infra');
const scratch = mkdtempSync(join(tmpdir(), 'hpcm-ops-doctor-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ssh = () => ({
  host: infra.ssh.host, port: infra.ssh.port, user: infra.ssh.user, identity_file: infra.ssh.identityFile,
  known_hosts: infra.ssh.knownHostsFile, remote_helper: 'hpcmirror helper', connections: 1,
});

describe('doctor checks, one line each', () => {
  it('ssh: the real host key passes; another key for the host, or none, fails (never accepted)', async () => {
    const root = mkdtempSync(join(scratch, 'src-'));
    expect(await checkSshSource(ssh(), root, silentLogger())).toMatchObject({ level: 'ok', message: expect.stringContaining('host key matches') });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(scratch, 'other'), '-C', 'other']);
    const other = readFileSync(join(scratch, 'other.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    const wrong = join(scratch, 'known_hosts.wrong');
    writeFileSync(wrong, `[${infra.ssh.host}]:${infra.ssh.port} ${other}\n`);
    const empty = join(scratch, 'known_hosts.empty');
    writeFileSync(empty, '');
    for (const kh of [wrong, empty]) {
      const r = await checkSshSource({ ...ssh(), known_hosts: kh }, root, silentLogger());
      expect(r).toMatchObject({ level: 'fail', message: expect.stringMatching(new RegExp(`host key not accepted by ${kh}`)) });
    }
    expect((await checkSshSource(ssh(), join(root, 'missing'), silentLogger())).message).toMatch(/source_root .*missing does not exist there/);
  }, 60_000);

  it('spool dir: the agent\'s rules (700, ours, real dir, outside the root) and writable', async () => {
    const root = join(scratch, 'root');
    mkdirSync(root, { recursive: true });
    const spool = join(scratch, 'spool');
    mkdirSync(spool, { mode: 0o700 });
    expect(await checkSpoolDir(spool, root)).toMatchObject({ level: 'ok' });
    chmodSync(spool, 0o755);
    expect((await checkSpoolDir(spool, root)).message).toBe(`${spool} has mode 755; it must be 700 (chmod 700 ${spool})`);
    chmodSync(spool, 0o700);
    symlinkSync(spool, join(scratch, 'spool-link'));
    expect((await checkSpoolDir(join(scratch, 'spool-link'), root)).message).toMatch(/is a symlink/);
    mkdirSync(join(root, 'spool'), { mode: 0o700 });
    expect(await checkSpoolDir(join(root, 'spool'), root)).toMatchObject({ level: 'fail', message: expect.stringMatching(/inside source_root/) });
    expect(await checkSpoolDir(join(scratch, 'nope'), root)).toMatchObject({ level: 'warn' });
    expect((await checkSpoolDir(spool, root, 12345)).message).toMatch(/owned by uid \d+, not by this user \(uid 12345\)/);
  });

  it('permissions: a password in a readable config fails, in a 0600 one warns; an ssh key others can read fails', () => {
    const key = join(scratch, 'id_test');
    copyFileSync(infra.ssh.identityFile, key);
    chmodSync(key, 0o644);
    const file = join(scratch, 'pw.yaml');
    writeFileSync(file, `flow: f\nbroker: {url: "amqp://opsm:hunter2-x@b/"}\nsource_root: /s\ndestination_root: /d\nsubscriber:\n  ssh: {host: h, user: u, identity_file: ${key}, known_hosts: /k}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    const cfg = parseConfig(readFileSync(file, 'utf8'), file);
    const r = checkFileModes(cfg);
    expect(r.map((x) => x.level)).toEqual(['fail', 'fail']);
    expect(r[0]!.message).toMatch(/mode 644\) holds the broker password in broker\.url: move it to a 0600 credentials file/);
    expect(r[1]!.message).toBe(`ssh key ${key} has mode 644; it must be 600 (chmod 600 ${key})`);
    expect(r.map((x) => x.message).join('')).not.toContain('hunter2-x');
    chmodSync(file, 0o600);
    chmodSync(key, 0o600);
    expect(checkFileModes(cfg).map((x) => x.level)).toEqual(['warn', 'ok']);
  });

  it('broker: a login on the shared node passes; a closed port says connection refused', async () => {
    expect(await checkBrokerLogin({ url: infra.brokerUrl })).toMatchObject({ level: 'ok', message: expect.stringMatching(/logged in as "guest" on vhost "\/" \(loopback, no TLS\)$/) });
    const r = await checkBrokerLogin({ url: 'amqp://guest:guest@127.0.0.1:1/' });
    expect(r).toMatchObject({ level: 'fail', message: 'amqp://guest:***@127.0.0.1:1/: connection refused at 127.0.0.1:1 (broker down, or wrong port)' });
  });

  it('shim library: loads when built; a build dir without it fails', async () => {
    expect(await checkShimLibrary()).toMatchObject({ level: 'ok', message: expect.stringMatching(/loads: .*libhpcmshim\.so$/) });
    const before = process.env.HPCM_SHIM_BUILD;
    process.env.HPCM_SHIM_BUILD = scratch;
    try {
      expect(await checkShimLibrary()).toMatchObject({ level: 'fail', message: expect.stringMatching(/does not load: .*cannot be preloaded/) });
    } finally {
      if (before === undefined) delete process.env.HPCM_SHIM_BUILD;
      else process.env.HPCM_SHIM_BUILD = before;
    }
  });

  it('clock: measured against the management API; linger read from systemd\'s own files', async () => {
    const r = await checkClock({ broker: { url: infra.brokerUrl }, managementUrl: infra.mgmtUrl }, 2);
    expect(r.level === 'ok' || r.level === 'warn').toBe(true);
    expect(r.message).toMatch(/broker [+-]\d+\.\ds/);
    const root = join(scratch, 'fakeroot');
    expect(checkLinger(`${root}/`).level).toBe('skip');
    mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
    expect(checkLinger(`${root}/`)).toMatchObject({ level: 'warn', message: expect.stringContaining(`loginctl enable-linger ${userInfo().username}`) });
    mkdirSync(join(root, 'var/lib/systemd/linger'), { recursive: true });
    writeFileSync(join(root, 'var/lib/systemd/linger', userInfo().username), '');
    expect(checkLinger(`${root}/`).level).toBe('ok');
  });
});
