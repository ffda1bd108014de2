import { TransportError } from '../errors.js';

export interface SshCommandConfig {
  identityFile: string;
  knownHostsFile: string;
  port: number;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** Socket of the multiplexing master (the helper's ssh), if multiplexing. */
  controlPath?: string;
}

/**
 * OpenSSH client options (an argument array, never a shell string): only our key, host key always
 * checked against our known_hosts, never a prompt, no user or system ssh_config.
 */
export function sshOptions(config: SshCommandConfig, role: 'master' | 'client'): string[] {
  const args = [
    '-F', 'none',
    '-i', config.identityFile,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${config.knownHostsFile}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR',
    '-o', `ConnectTimeout=${Math.max(1, Math.ceil(config.connectTimeoutMs / 1000))}`,
    '-o', `ServerAliveInterval=${Math.max(1, Math.ceil(config.keepaliveIntervalMs / 1000))}`,
    '-o', 'ServerAliveCountMax=3',
    '-p', String(config.port),
  ];
  if (config.controlPath) {
    args.push('-o', `ControlPath=${config.controlPath}`);
    args.push(...(role === 'master' ? ['-o', 'ControlMaster=yes', '-o', 'ControlPersist=no'] : ['-o', 'ControlMaster=no']));
  }
  return args;
}

/**
 * The one string `rsync -e` wants, from an argument array. rsync splits it on spaces and honours
 * single and double quotes (no backslashes), so each word is quoted when it needs to be.
 */
export function rsyncRemoteShell(argv: readonly string[]): string {
  return argv
    .map((word) => {
      if (word !== '' && !/[\s'"]/.test(word)) return word;
      if (!word.includes("'")) return `'${word}'`;
      if (!word.includes('"')) return `"${word}"`;
      throw new TransportError('HPM_TRANSPORT_CONFIG', `cannot pass ${JSON.stringify(word)} to rsync -e (both quote kinds)`);
    })
    .join(' ');
}

/**
 * ssh only says why it failed in words (exit status 255 for every failure); these are OpenSSH's fixed
 * messages for the two failures that must not be retried.
 */
export function classifySshFailure(stderr: string, label: string): TransportError | undefined {
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No (?:ED25519|RSA|ECDSA) host key is known/.test(stderr)) {
    return new TransportError('HPM_TRANSPORT_HOSTKEY', `${label}: host key does not match known_hosts: refusing to connect`);
  }
  if (/Permission denied \(publickey/.test(stderr)) {
    return new TransportError('HPM_TRANSPORT_AUTH', `${label}: our key was refused`);
  }
  return undefined;
}
