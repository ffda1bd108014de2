import { join } from 'node:path';
import { SandboxError } from './errors.js';
import type { ServiceRecord } from './services.js';
import { readJsonFile, writeJsonAtomic } from './state-file.js';

export type SandboxTransport = 'sftp' | 'rsync' | 'local';
export const SANDBOX_TRANSPORTS: readonly SandboxTransport[] = ['sftp', 'rsync', 'local'];

export const DEFAULT_SANDBOX_DIR = '.hpcmirror-sandbox';
export const SANDBOX_STATE_FILE = 'sandbox.json';

/** DIR/sandbox.json: everything a later command (status, down, the CLI's --sandbox) needs. */
export interface SandboxState {
  version: 1;
  dir: string;
  brokerUrl: string;
  mgmtUrl: string | null;
  exchange: string;
  src: string;
  dst: string;
  transport: SandboxTransport;
  ssh: {
    host: string;
    port: number;
    user: string;
    identityFile: string;
    knownHostsFile: string;
    sshConfigFile: string;
    hostAlias: string;
    hostPublicKey: string;
  };
  /** Name to pid of everything running: rabbitmq (beam.smp), epmd, sshd, then each service. Empty when down. */
  pids: Record<string, number>;
  /** Services started after broker and sshd, in start order. */
  services: ServiceRecord[];
  /** Variables that load the shim for this sandbox (see `hpcmirror shim env`). */
  shimEnv: Record<string, string>;
  /** Whatever the caller of `up` wants kept (config paths...). */
  extra: Record<string, unknown>;
  startedAt: string | null;
  stoppedAt: string | null;
}

export function statePath(dir: string): string {
  return join(dir, SANDBOX_STATE_FILE);
}

export function readSandboxState(dir: string): SandboxState | undefined {
  const state = readJsonFile<SandboxState>(statePath(dir), 'sandbox');
  if (state !== undefined && state.version !== 1) {
    throw new SandboxError('sandbox', `${statePath(dir)} has version ${String(state.version)}; expected 1`);
  }
  return state;
}

export function writeSandboxState(state: SandboxState): void {
  writeJsonAtomic(statePath(state.dir), state);
}
