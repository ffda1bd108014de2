import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSshd, type SshdHandle } from '@hpcmirror/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/transports/errors.js';
import { createRsyncTransport, createSftpTransport } from '../../src/transports/index.js';
import type { Transport } from '../../src/transports/transport.js';
import { buildSubscriber, helperCommand } from '../fixtures/built-helper.js';

/*
 * Failures only an ssh transport has: a host key that does not match known_hosts, and a connection
 * that drops in the middle of a large fetch. Runs its own sshd: the drop test kills its sessions.
 */

let work: string;
let sshd: SshdHandle;
let bigFile: Buffer;
let smallFile: Buffer;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hpcm-ssh-fail-'));
  mkdirSync(join(work, 'src'));
  writeFileSync(join(work, 'src', 'big'), randomBytes(48 * 1024 * 1024));
  writeFileSync(join(work, 'src', 'small'), 'small\n');
  bigFile = Buffer.from(join(work, 'src', 'big'));
  smallFile = Buffer.from(join(work, 'src', 'small'));
  [sshd] = await Promise.all([startSshd({ dir: join(work, 'sshd') }), buildSubscriber()]);
});

afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

function endpoint(knownHostsFile = sshd.knownHostsFile) {
  return { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHostsFile };
}

const makers: Record<'sftp' | 'rsync', (knownHostsFile?: string) => Transport> = {
  sftp: (kh) => createSftpTransport({ ...endpoint(kh), helperCommand: helperCommand(), requireHelper: true, opTimeoutMs: 20_000 }),
  rsync: (kh) => createRsyncTransport({ ...endpoint(kh), helperCommand: helperCommand(), opTimeoutMs: 20_000 }),
};

/**
 * The per-connection sshd processes below the listening one (internal-sftp runs inside them). Only
 * sshd itself is killed: the session's own programs (a login shell, the helper) see the connection
 * end and exit by themselves, as they would on a real network failure.
 */
function sessionPids(pid: number): number[] {
  const children = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const out: number[] = [];
  const isSshd = (p: number): boolean => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sshd';
    } catch {
      return false;
    }
  };
  const walk = (p: number): void => {
    for (const c of children(p)) {
      if (!isSshd(c)) continue;
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** Bytes in the files below `dir` (a fetch's temp file, or rsync's inside its staging dir). */
function bytesBelow(dir: string): number {
  let total = 0;
  try {
    for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      const st = lstatSync(join(dir, rel), { throwIfNoEntry: false });
      if (st?.isFile()) total += st.size;
    }
  } catch {
    // a staging dir removed while listed: the fetch is over
  }
  return total;
}

async function rejection(work: Promise<unknown>): Promise<TransportError> {
  const err = await work.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransportError);
  return err as TransportError;
}

function otherHostKeyFile(): string {
  const keyFile = join(work, `imposter-${randomBytes(4).toString('hex')}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  const [type, b64] = readFileSync(`${keyFile}.pub`, 'utf8').split(' ');
  const file = `${keyFile}.known_hosts`;
  writeFileSync(file, `[127.0.0.1]:${sshd.port} ${type} ${b64}\n`);
  return file;
}

describe.each(['sftp', 'rsync'] as const)('%s transport over a failing ssh', (name) => {
  it('refuses a host whose key does not match known_hosts (HPM_TRANSPORT_HOSTKEY, not retryable)', async () => {
    const transport = makers[name](otherHostKeyFile());
    const err = await rejection(transport.start());
    expect(err.code).toBe('HPM_TRANSPORT_HOSTKEY');
    expect(err.retryable).toBe(false);
    await transport.stop();
  });

  it('refuses a host missing from known_hosts', async () => {
    const empty = join(work, `empty-${name}`);
    writeFileSync(empty, '');
    const transport = makers[name](empty);
    expect((await rejection(transport.start())).code).toBe('HPM_TRANSPORT_HOSTKEY');
    await transport.stop();
  });

  it('accepts known_hosts hashed by ssh-keygen -H', async () => {
    const hashed = join(work, `hashed-${name}`);
    writeFileSync(hashed, readFileSync(sshd.knownHostsFile));
    execFileSync('ssh-keygen', ['-H', '-f', hashed], { stdio: 'ignore' });
    const transport = makers[name](hashed);
    await transport.start();
    try {
      const [st] = await transport.stat([smallFile]);
      expect(st?.size).toBe(6);
    } finally {
      await transport.stop();
    }
  });

  it('a connection dropped mid-fetch is a retryable error, leaves nothing behind, and the next call recovers', { timeout: 150_000 }, async () => {
    const transport = makers[name]();
    await transport.start();
    try {
      const dir = join(work, `dst-${name}`);
      mkdirSync(dir);
      const dest = { dirPath: Buffer.from(dir), tempName: Buffer.from('.hpcm.00000000000000d1') };
      // Paced so the drop surely lands mid-transfer.
      const fetching = transport.fetch(bigFile, dest, { fsync: false, bwlimitBytesPerSec: 8 * 1024 * 1024 });
      const caught = rejection(fetching);
      // Cut once bytes are landing, not after a guessed delay: a loaded machine may still be in the ssh handshake.
      for (const t0 = Date.now(); bytesBelow(dir) < 1024 * 1024 && Date.now() - t0 < 60_000;) await sleep(50);
      expect(bytesBelow(dir), 'the fetch never got going').toBeGreaterThanOrEqual(1024 * 1024);
      const victims = sessionPids(sshd.pid);
      expect(victims.length).toBeGreaterThan(0);
      for (const pid of victims) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      const err = await caught;
      expect(['HPM_TRANSPORT_CONNECTION', 'HPM_TRANSPORT_TIMEOUT', 'HPM_TRANSPORT_HELPER', 'HPM_TRANSPORT_RSYNC']).toContain(err.code);
      expect(err.retryable).toBe(true);
      expect(readdirSync(dir)).toEqual([]);

      // Recovery: the next calls reconnect on their own.
      const again = { dirPath: Buffer.from(dir), tempName: Buffer.from('.hpcm.00000000000000d2') };
      const result = await transport.fetch(smallFile, again, { fsync: true });
      expect(result.bytes).toBe(6);
      expect(readFileSync(join(dir, '.hpcm.00000000000000d2'), 'utf8')).toBe('small\n');
      const [st] = await transport.stat([bigFile]);
      expect(st?.size).toBe(48 * 1024 * 1024);
      expect(st?.nsPrecision).toBe(true);
    } finally {
      await transport.stop();
    }
  });
});
