import type { Logger, SubscriberConfig } from '@hpcmirror/core';
import { expandHome, type SubscriberSettings } from './settings.js';
import { createLocalTransport, createRsyncTransport, createSftpTransport, SftpSession, type Transport } from './transports/index.js';

type SshSection = NonNullable<SubscriberConfig['ssh']>;

/** Host, port, user, key and known_hosts of an ssh config section. */
function sshEndpointOf(ssh: SshSection) {
  return {
    host: ssh.host,
    port: ssh.port,
    user: ssh.user,
    identityFile: expandHome(ssh.identity_file),
    knownHostsFile: expandHome(ssh.known_hosts),
  };
}

function endpointOf(ssh: SshSection, log: Logger) {
  return { ...sshEndpointOf(ssh), helperCommand: ssh.remote_helper, logger: log };
}

/** An SFTP transport (with the remote helper) to the host of an ssh config section. */
export function createSftpTransportFor(ssh: SshSection, logger: Logger): Transport {
  return createSftpTransport({ ...endpointOf(ssh, logger.child({ component: 'transport' })), connections: ssh.connections });
}

/**
 * One SFTP session to the host of an ssh config section, with the transport's credentials and
 * known_hosts (for the few writes failback makes on the primary).
 */
export function openSftpSessionFor(ssh: SshSection, options: { withoutExtensions?: string[] } = {}): Promise<SftpSession> {
  return SftpSession.open({ ...sshEndpointOf(ssh), ...options });
}

/** The transport named by `subscriber.transport`, configured from `subscriber.ssh`. */
export function createTransportFor(settings: SubscriberSettings, logger: Logger): Transport {
  const sub = settings.sub;
  const log = logger.child({ component: 'transport' });
  if (sub.transport === 'local') return createLocalTransport({ logger: log });
  const ssh = sub.ssh!;
  const endpoint = endpointOf(ssh, log);
  if (sub.transport === 'sftp') return createSftpTransport({ ...endpoint, connections: ssh.connections });
  return createRsyncTransport(endpoint);
}
