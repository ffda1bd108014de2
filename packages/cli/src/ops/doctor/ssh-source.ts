import type { Logger, SubscriberConfig } from '@hpcmirror/core';
import { createSftpTransport, type Transport } from '@hpcmirror/subscriber';
import { expandHome } from '../../context.js';
import { fail, ok, warn, type DoctorResult } from './doctor-result.js';

async function withTransport<T>(t: Transport, fn: () => Promise<T>): Promise<T> {
  try {
    await t.start();
    return await fn();
  } finally {
    await t.stop().catch(() => undefined);
  }
}

type SshConfig = NonNullable<SubscriberConfig['ssh']>;

const codeOf = (err: unknown): string => (err as { code?: string }).code ?? '';

/**
 * The subscriber's ssh login to the source, through its own transport (so the same known_hosts
 * check: an unknown or changed host key fails, never accepted), then a look at source_root.
 */
export async function checkSshSource(ssh: SshConfig, sourceRoot: string, logger: Logger, timeoutMs = 15_000): Promise<DoctorResult> {
  const check = 'ssh';
  const where = `${ssh.user}@${ssh.host}:${ssh.port}`;
  const transport = createSftpTransport({
    host: ssh.host, port: ssh.port, user: ssh.user,
    identityFile: expandHome(ssh.identity_file), knownHostsFile: expandHome(ssh.known_hosts),
    connections: 1, helperCommand: null, connectTimeoutMs: timeoutMs, logger,
  });
  try {
    const [st] = await withTransport(transport, () => transport.stat([Buffer.from(sourceRoot)]));
    if (!st) return fail(check, `${where}: logged in, but source_root ${sourceRoot} does not exist there`);
    if (st.type !== 'dir') return fail(check, `${where}: source_root ${sourceRoot} is not a directory there`);
    return ok(check, `${where}: host key matches ${ssh.known_hosts}, key ${ssh.identity_file} accepted, ${sourceRoot} readable`);
  } catch (err) {
    const msg = (err as Error).message;
    switch (codeOf(err)) {
      case 'HPM_TRANSPORT_HOSTKEY':
        return fail(check, `${where}: host key not accepted by ${ssh.known_hosts}: ${msg}`);
      case 'HPM_TRANSPORT_AUTH':
        return fail(check, `${where}: key ${ssh.identity_file} refused: ${msg}`);
      default:
        return fail(check, `${where}: ${msg}${codeOf(err) ? ` (${codeOf(err)})` : ''}`);
    }
  }
}

/** The remote metadata helper runs on the source (else the subscriber falls back to SFTP stat). */
export async function checkRemoteHelper(ssh: SshConfig, sourceRoot: string, logger: Logger, timeoutMs = 10_000): Promise<DoctorResult> {
  const check = 'remote helper';
  const transport = createSftpTransport({
    host: ssh.host, port: ssh.port, user: ssh.user,
    identityFile: expandHome(ssh.identity_file), knownHostsFile: expandHome(ssh.known_hosts),
    connections: 1, helperCommand: ssh.remote_helper, requireHelper: true, connectTimeoutMs: timeoutMs, logger,
  });
  try {
    await withTransport(transport, () => transport.stat([Buffer.from(sourceRoot)]));
    return ok(check, `\`${ssh.remote_helper}\` runs on ${ssh.host} (nanosecond times, inodes)`);
  } catch (err) {
    return warn(check, `\`${ssh.remote_helper}\` does not run on ${ssh.host}: ${(err as Error).message} (the subscriber falls back to SFTP stat: whole seconds, no inodes)`);
  }
}
