import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/transports/errors.js';
import {
  hostKeyAlgorithms,
  hostKeyPolicy,
  isHostKeyAccepted,
  loadHostKeyPolicy,
  parseKnownHosts,
} from '../../src/transports/sftp/known-hosts.js';

const work = mkdtempSync(join(tmpdir(), 'hpcm-kh-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A real ed25519 public key line from ssh-keygen. */
function newKey(name: string): { line: string; type: string; blob: Buffer } {
  const file = join(work, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  const line = readFileSync(`${file}.pub`, 'utf8').trim();
  const [type, b64] = line.split(' ');
  return { line, type: type!, blob: Buffer.from(b64!, 'base64') };
}

const a = newKey('a');
const b = newKey('b');
const c = newKey('c');

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts', () => {
  const text = [
    '# comment',
    '',
    `[127.0.0.1]:2222 ${a.line}`,
    `hpc1,hpc1.example.org ${b.line}`,
    `${hashed('[10.0.0.5]:2200')} ${c.line}`,
    `*.cluster.example,!bad.cluster.example ${a.line}`,
    `@cert-authority *.example.org ${c.line}`,
    'garbage line',
  ].join('\n');
  const entries = parseKnownHosts(text);

  it('matches [host]:port, plain, hashed and wildcard entries the way OpenSSH does', () => {
    expect(isHostKeyAccepted(hostKeyPolicy(entries, '127.0.0.1', 2222), a.blob)).toBe(true);
    expect(isHostKeyAccepted(hostKeyPolicy(entries, '127.0.0.1', 2222), b.blob)).toBe(false);
    expect(hostKeyPolicy(entries, '127.0.0.1', 22).accepted).toHaveLength(0);
    expect(isHostKeyAccepted(hostKeyPolicy(entries, 'HPC1', 22), b.blob)).toBe(true);
    expect(hostKeyPolicy(entries, 'hpc1', 2222).accepted).toHaveLength(0);
    expect(isHostKeyAccepted(hostKeyPolicy(entries, '10.0.0.5', 2200), c.blob)).toBe(true);
    expect(hostKeyPolicy(entries, '10.0.0.5', 22).accepted).toHaveLength(0);
    expect(isHostKeyAccepted(hostKeyPolicy(entries, 'n1.cluster.example', 22), a.blob)).toBe(true);
    expect(hostKeyPolicy(entries, 'bad.cluster.example', 22).accepted).toHaveLength(0);
    // @cert-authority lines are not host keys.
    expect(hostKeyPolicy(entries, 'x.example.org', 22).accepted).toHaveLength(0);
  });

  it('refuses revoked keys whatever else matches', () => {
    const policy = hostKeyPolicy(parseKnownHosts(`${text}\n@revoked * ${b.line}`), 'hpc1', 22);
    expect(isHostKeyAccepted(policy, b.blob)).toBe(false);
  });

  it('offers only host key algorithms it can check', () => {
    expect(hostKeyAlgorithms(hostKeyPolicy(entries, 'hpc1', 22))).toEqual(['ssh-ed25519']);
    const rsa = parseKnownHosts(`h ssh-rsa ${Buffer.from('x').toString('base64')}`);
    expect(hostKeyAlgorithms(hostKeyPolicy(rsa, 'h', 22))).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });

  it('reads entries hashed by ssh-keygen -H', async () => {
    const file = join(work, 'known_hosts');
    writeFileSync(file, `[127.0.0.1]:2222 ${a.line}\nhpc1 ${b.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/);
    expect(isHostKeyAccepted(await loadHostKeyPolicy(file, '127.0.0.1', 2222), a.blob)).toBe(true);
    expect(isHostKeyAccepted(await loadHostKeyPolicy(file, 'hpc1', 22), b.blob)).toBe(true);
  });

  it('an unknown host is refused before connecting; a missing file is a config error', async () => {
    const file = join(work, 'known_hosts_other');
    writeFileSync(file, `hpc1 ${b.line}\n`);
    const unknown = await loadHostKeyPolicy(file, 'hpc2', 22).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(TransportError);
    expect((unknown as TransportError).code).toBe('HPM_TRANSPORT_HOSTKEY');
    expect((unknown as TransportError).retryable).toBe(false);
    const missing = await loadHostKeyPolicy(join(work, 'nope'), 'hpc1', 22).catch((e: unknown) => e);
    expect((missing as TransportError).code).toBe('HPM_TRANSPORT_CONFIG');
  });
});
