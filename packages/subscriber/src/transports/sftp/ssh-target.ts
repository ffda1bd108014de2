import { readFile } from 'node:fs/promises';
import { TransportError, errnoCode } from '../errors.js';
import { loadHostKeyPolicy } from './known-hosts.js';
import type { SshTarget } from './ssh-connection.js';

/** Where and as whom to connect, as the transport configs say it. */
export interface SshEndpointConfig {
  host: string;
  port: number;
  user: string;
  /** Private key file (OpenSSH or PEM format). */
  identityFile: string;
  passphrase?: string;
  /** OpenSSH known_hosts; the host key is always checked against it. */
  knownHostsFile: string;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
}

/** The endpoint as a transport's config gives it: the port and the timers may be left to defaults. */
export type SshEndpointOptions = Omit<SshEndpointConfig, 'port' | 'connectTimeoutMs' | 'keepaliveIntervalMs'> &
  Partial<Pick<SshEndpointConfig, 'port' | 'connectTimeoutMs' | 'keepaliveIntervalMs'>>;

/** Reads the key and the known_hosts entries once; the target then serves every (re)connect. */
export async function resolveSshTarget(c: SshEndpointConfig): Promise<SshTarget> {
  const hostKeys = await loadHostKeyPolicy(c.knownHostsFile, c.host, c.port);
  let privateKey: Buffer;
  try {
    privateKey = await readFile(c.identityFile);
  } catch (err) {
    throw new TransportError('HPM_TRANSPORT_CONFIG', `cannot read identity file ${c.identityFile}: ${errnoCode(err)}`, { cause: err });
  }
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    privateKey,
    hostKeys,
    connectTimeoutMs: c.connectTimeoutMs,
    keepaliveIntervalMs: c.keepaliveIntervalMs,
    label: `${c.user}@${c.host}:${c.port}`,
    ...(c.passphrase !== undefined ? { passphrase: c.passphrase } : {}),
  };
}
