import { join } from 'node:path';

export interface SshdPaths {
  dir: string;
  configFile: string;
  hostKey: string;
  identityFile: string;
  authorizedKeys: string;
  knownHostsFile: string;
  sshConfigFile: string;
  pidFile: string;
  logFile: string;
  outputLog: string;
}

export function sshdPaths(dir: string): SshdPaths {
  return {
    dir,
    configFile: join(dir, 'sshd_config'),
    hostKey: join(dir, 'ssh_host_ed25519_key'),
    identityFile: join(dir, 'id_ed25519'),
    authorizedKeys: join(dir, 'authorized_keys'),
    knownHostsFile: join(dir, 'known_hosts'),
    sshConfigFile: join(dir, 'ssh_config'),
    pidFile: join(dir, 'sshd.pid'),
    logFile: join(dir, 'sshd.log'),
    outputLog: join(dir, 'sshd.out'),
  };
}

/** The alias `ssh -F DIR/ssh_config` knows the sandbox sshd by. */
export const SSH_HOST_ALIAS = 'hpcm-sandbox';

export function sshdConfig(paths: SshdPaths, port: number, user: string): string {
  return `${[
    'ListenAddress 127.0.0.1',
    `Port ${port}`,
    `HostKey ${paths.hostKey}`,
    `PidFile ${paths.pidFile}`,
    // Our own key list, not ~/.ssh/authorized_keys; StrictModes off because it lives in a temp dir.
    `AuthorizedKeysFile ${paths.authorizedKeys}`,
    'StrictModes no',
    `AllowUsers ${user}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'Subsystem sftp internal-sftp',
    // Copier pools open many sessions and connections at once.
    'MaxSessions 64',
    'MaxStartups 100',
    'LoginGraceTime 30',
    'LogLevel VERBOSE',
  ].join('\n')}\n`;
}

export function knownHostsLine(port: number, hostPublicKey: string): string {
  const [type, key] = hostPublicKey.split(/\s+/);
  return `[127.0.0.1]:${port} ${type} ${key}\n`;
}

/** Options every client command uses: only our key, host key checking always on. */
export function sshOptions(paths: SshdPaths): string[] {
  return [
    '-o', `IdentityFile=${paths.identityFile}`,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${paths.knownHostsFile}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR',
  ];
}

export function sshClientConfig(paths: SshdPaths, port: number, user: string): string {
  return `${[
    `Host ${SSH_HOST_ALIAS}`,
    '  HostName 127.0.0.1',
    `  Port ${port}`,
    `  User ${user}`,
    `  IdentityFile ${paths.identityFile}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${paths.knownHostsFile}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  LogLevel ERROR',
  ].join('\n')}\n`;
}
