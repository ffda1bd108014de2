/**
 * What test/global-setup.ts provides: `inject('infra')` in any test file. Files that want the type
 * checked outside vitest add: /// <reference path="<relative>/test/infra.d.ts" />
 */
import 'vitest';

export interface SharedInfra {
  /** amqp://guest:guest@127.0.0.1:PORT of the shared node; use your own exchange/queue names. */
  brokerUrl: string;
  /** http://127.0.0.1:PORT management API (guest/guest). */
  mgmtUrl: string;
  ssh: {
    host: string;
    port: number;
    user: string;
    /** ed25519 private key, mode 0600 */
    identityFile: string;
    /** holds [127.0.0.1]:PORT with the host key */
    knownHostsFile: string;
    /** `ssh -F sshConfigFile hostAlias CMD` works as is */
    sshConfigFile: string;
    hostAlias: string;
    /** "ssh-ed25519 AAAA..." for clients (ssh2) that verify the host key themselves */
    hostPublicKey: string;
    /** ssh ...sshArgs user@host CMD */
    sshArgs: string[];
    /** the same as one shell string, for rsync -e */
    sshCommand: string;
  };
  /** Scratch root of the shared services (removed at the end of the run). */
  dir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    infra: SharedInfra;
  }
}
