import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { TransportError, errnoCode } from '../errors.js';

/*
 * OpenSSH known_hosts, as far as a client that must verify a host needs it: plain, wildcard, negated
 * and `[host]:port` patterns, hashed `|1|salt|hash` entries, and `@revoked` keys. `@cert-authority`
 * lines are skipped (host certificates are not supported): such a host is refused as unknown.
 */

export interface KnownHostsEntry {
  marker: '' | '@revoked' | '@cert-authority';
  patterns: string[];
  keyType: string;
  /** The public key blob (the base64 field decoded), as the server sends it in the key exchange. */
  key: Buffer;
}

export interface HostKeyPolicy {
  /** Keys this host may present (with their types, for choosing host key algorithms). */
  accepted: { keyType: string; key: Buffer }[];
  /** Keys that must be refused even if also listed as accepted. */
  revoked: Buffer[];
}

export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/[ \t]+/);
    let marker: KnownHostsEntry['marker'] = '';
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostsEntry['marker'];
    const [hosts, keyType, keyText] = fields;
    if (!hosts || !keyType || !keyText || !/^[A-Za-z0-9+/]+=*$/.test(keyText)) continue;
    entries.push({ marker, patterns: hosts.split(','), keyType, key: Buffer.from(keyText, 'base64') });
  }
  return entries;
}

/** The name OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
}

function hashedPatternMatches(pattern: string, name: string): boolean {
  const [, magic, saltText, hashText] = pattern.split('|');
  if (magic !== '1' || !saltText || !hashText) return false;
  const want = Buffer.from(hashText, 'base64');
  const got = createHmac('sha1', Buffer.from(saltText, 'base64')).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

function globMatches(pattern: string, name: string): boolean {
  const regex = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(name);
}

/** OpenSSH semantics: some positive pattern matches and no negated one does. */
export function entryMatchesHost(entry: KnownHostsEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  let matched = false;
  for (const pattern of entry.patterns) {
    const negated = pattern.startsWith('!');
    const body = negated ? pattern.slice(1) : pattern;
    const hit = body.startsWith('|') ? hashedPatternMatches(body, name) : globMatches(body, name);
    if (hit && negated) return false;
    if (hit) matched = true;
  }
  return matched;
}

export function hostKeyPolicy(entries: KnownHostsEntry[], host: string, port: number): HostKeyPolicy {
  const policy: HostKeyPolicy = { accepted: [], revoked: [] };
  for (const entry of entries) {
    if (entry.marker === '@revoked') {
      // A revoked key is refused for every host, whatever its host field says.
      policy.revoked.push(entry.key);
    } else if (entry.marker === '' && entryMatchesHost(entry, host, port)) {
      policy.accepted.push({ keyType: entry.keyType, key: entry.key });
    }
  }
  return policy;
}

/** May the host present `key`? */
export function isHostKeyAccepted(policy: HostKeyPolicy, key: Buffer): boolean {
  if (policy.revoked.some((k) => k.equals(key))) return false;
  return policy.accepted.some((k) => k.key.equals(key));
}

const ALGORITHMS_BY_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
};

/** Offer only host key algorithms we hold a key for, so the server shows us a key we can check. */
export function hostKeyAlgorithms(policy: HostKeyPolicy): string[] {
  const algorithms: string[] = [];
  for (const { keyType } of policy.accepted) {
    for (const algorithm of ALGORITHMS_BY_KEY_TYPE[keyType] ?? []) {
      if (!algorithms.includes(algorithm)) algorithms.push(algorithm);
    }
  }
  return algorithms;
}

/** Read known_hosts and pick the keys for host:port; a host with no key is refused up front. */
export async function loadHostKeyPolicy(file: string, host: string, port: number): Promise<HostKeyPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TransportError('HPM_TRANSPORT_CONFIG', `cannot read known_hosts file ${file}: ${errnoCode(err) ?? String(err)}`, {
      cause: err,
    });
  }
  const policy = hostKeyPolicy(parseKnownHosts(text), host, port);
  if (policy.accepted.length === 0 || hostKeyAlgorithms(policy).length === 0) {
    throw new TransportError(
      'HPM_TRANSPORT_HOSTKEY',
      `host ${knownHostsName(host, port)} has no usable key in ${file}: refusing to connect`,
    );
  }
  return policy;
}
