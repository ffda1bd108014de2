import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachSshd, startSshd, type SshdHandle } from '../src/sshd.js';
import { isAlive } from '../src/process-control.js';
import { processesUsing } from '../src/proc-scan.js';

const run = promisify(execFile);

describe('startSshd', () => {
  let dir: string;
  let sshd: SshdHandle;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hpcm-sshd-test-'));
    sshd = await startSshd({ dir: join(dir, 'sshd') });
  });

  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a command over ssh with strict host key checking', async () => {
    expect(sshd.host).toBe('127.0.0.1');
    expect(statSync(sshd.identityFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(sshd.knownHostsFile, 'utf8')).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
    const { stdout } = await run('ssh', [...sshd.sshArgs, `${sshd.user}@127.0.0.1`, 'echo', 'hello']);
    expect(stdout.trim()).toBe('hello');
    const viaConfig = await run('ssh', ['-F', sshd.sshConfigFile, sshd.hostAlias, 'whoami']);
    expect(viaConfig.stdout.trim()).toBe(sshd.user);
  });

  it('refuses a host whose key is not in known_hosts', async () => {
    const emptyKnownHosts = join(dir, 'empty_known_hosts');
    writeFileSync(emptyKnownHosts, '');
    const args = sshd.sshArgs.map((a) => (a.startsWith('UserKnownHostsFile=') ? `UserKnownHostsFile=${emptyKnownHosts}` : a));
    await expect(run('ssh', [...args, `${sshd.user}@127.0.0.1`, 'true'])).rejects.toThrow();
  });

  it('copies with rsync over ssh and with sftp', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'a.txt'), 'rsync payload');
    await run('rsync', ['-a', '-e', sshd.sshCommand, `${src}/`, `${sshd.user}@127.0.0.1:${dst}/`]);
    expect(readFileSync(join(dst, 'sub', 'a.txt'), 'utf8')).toBe('rsync payload');

    const batch = join(dir, 'sftp-batch');
    writeFileSync(batch, `get ${join(dst, 'sub', 'a.txt')} ${join(dir, 'via-sftp.txt')}\n`);
    const sftpArgs = sshd.sshArgs.filter((a) => a !== '-p' && a !== String(sshd.port));
    await run('sftp', [...sftpArgs, '-P', String(sshd.port), '-b', batch, `${sshd.user}@127.0.0.1`]);
    expect(readFileSync(join(dir, 'via-sftp.txt'), 'utf8')).toBe('rsync payload');
  });

  it('serves ssh2 clients that verify the host key themselves', async () => {
    const expected = Buffer.from(sshd.hostPublicKey.split(' ')[1] ?? '', 'base64');
    const content = await new Promise<string>((resolve, reject) => {
      const client = new Client();
      client
        .on('ready', () => {
          client.sftp((err, sftp) => {
            if (err) return reject(err);
            sftp.readFile(join(dir, 'src', 'sub', 'a.txt'), (readErr, data) => {
              client.end();
              if (readErr) reject(readErr);
              else resolve(data.toString());
            });
          });
        })
        .on('error', reject)
        .connect({
          host: sshd.host,
          port: sshd.port,
          username: sshd.user,
          privateKey: readFileSync(sshd.identityFile),
          hostVerifier: (key: Buffer) => key.equals(expected),
        });
    });
    expect(content).toBe('rsync payload');
  });

  it('returns the running daemon when started again, restarts on the same port and key', async () => {
    const again = await startSshd({ dir: join(dir, 'sshd') });
    expect(again.pid).toBe(sshd.pid);
    const { port, hostPublicKey, pid } = sshd;
    await sshd.restart();
    expect(sshd.port).toBe(port);
    expect(sshd.hostPublicKey).toBe(hostPublicKey);
    expect(sshd.pid).not.toBe(pid);
    await run('ssh', [...sshd.sshArgs, `${sshd.user}@127.0.0.1`, 'true']);
  });

  it('stops from another handle by pid and leaves nothing behind', async () => {
    const { pid } = sshd;
    await attachSshd(join(dir, 'sshd')).stop();
    expect(isAlive(pid)).toBe(false);
    expect(processesUsing(join(dir, 'sshd'))).toEqual([]);
  });
});
