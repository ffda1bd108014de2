import { mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { SandboxError } from './errors.js';
import { findFreePort, isPortFree, LOOPBACK } from './free-port.js';
import { silentLogger, type SandboxLogger } from './logger.js';
import { isRecordAlive, spawnDetached, stopProcess, tailFile, type ProcessRecord } from './process-control.js';
import { runCommand } from './run-command.js';
import { shellJoin } from './shell-quote.js';
import { ensureKeyPair } from './ssh-keys.js';
import {
  knownHostsLine,
  SSH_HOST_ALIAS,
  sshClientConfig,
  sshdConfig,
  sshdPaths,
  sshOptions,
  type SshdPaths,
} from './sshd-files.js';
import { readJsonFile, writeJsonAtomic } from './state-file.js';
import { canConnect } from './tcp-probe.js';
import { waitUntil } from './wait-until.js';

export const SSHD = '/usr/sbin/sshd';
/** sshd refuses to start without its privilege separation directory. */
const PRIVSEP_DIR = '/run/sshd';
export const SSHD_STATE_FILE = 'sshd.json';
const START_TIMEOUT_MS = 60_000;

export interface StartSshdOptions {
  /** Private directory for keys, configs, pid and log. */
  dir: string;
  log?: SandboxLogger;
  startTimeoutMs?: number;
}

/** Saved as DIR/sshd.json so another process can find and stop the daemon. */
export interface SshdState {
  kind: 'sshd';
  dir: string;
  port: number;
  user: string;
  hostPublicKey: string;
  process: ProcessRecord | null;
}

export interface SshdHandle {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The current user, the only one allowed in. */
  readonly user: string;
  /** ed25519 private key (mode 0600) whose public half is the only authorized key. */
  readonly identityFile: string;
  /** Holds `[127.0.0.1]:PORT ssh-ed25519 ...` for this daemon's host key. */
  readonly knownHostsFile: string;
  /** `ssh -F sshConfigFile hpcm-sandbox` works with no other option. */
  readonly sshConfigFile: string;
  readonly hostAlias: string;
  /** "ssh-ed25519 AAAA..." of the host key, for clients (ssh2) that verify keys themselves. */
  readonly hostPublicKey: string;
  /** ssh arguments before the destination: ssh ...sshArgs user@127.0.0.1 CMD. */
  readonly sshArgs: readonly string[];
  /** The same as one shell string, for `rsync -e`. */
  readonly sshCommand: string;
  readonly pid: number;
  readonly dir: string;
  readonly state: SshdState;
  isRunning(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stop then start: same port and keys. */
  restart(): Promise<void>;
}

class LoopbackSshd implements SshdHandle {
  readonly host = LOOPBACK;
  readonly hostAlias = SSH_HOST_ALIAS;
  readonly #paths: SshdPaths;
  readonly #log: SandboxLogger;
  readonly #startTimeoutMs: number;
  #state: SshdState;
  #lifecycle: Promise<void> = Promise.resolve();

  constructor(state: SshdState, log: SandboxLogger, startTimeoutMs: number) {
    this.#state = state;
    this.#paths = sshdPaths(state.dir);
    this.#log = log;
    this.#startTimeoutMs = startTimeoutMs;
  }

  get port(): number {
    return this.#state.port;
  }
  get user(): string {
    return this.#state.user;
  }
  get identityFile(): string {
    return this.#paths.identityFile;
  }
  get knownHostsFile(): string {
    return this.#paths.knownHostsFile;
  }
  get sshConfigFile(): string {
    return this.#paths.sshConfigFile;
  }
  get hostPublicKey(): string {
    return this.#state.hostPublicKey;
  }
  get sshArgs(): readonly string[] {
    return ['-F', 'none', ...sshOptions(this.#paths), '-p', String(this.#state.port)];
  }
  get sshCommand(): string {
    return shellJoin(['ssh', ...this.sshArgs]);
  }
  get pid(): number {
    return this.#state.process?.pid ?? 0;
  }
  get dir(): string {
    return this.#state.dir;
  }
  get state(): SshdState {
    return structuredClone(this.#state);
  }

  isRunning(): boolean {
    return this.#state.process !== null && isRecordAlive(this.#state.process);
  }

  #serially(step: () => Promise<void>): Promise<void> {
    const run = this.#lifecycle.then(step, step);
    this.#lifecycle = run.catch(() => undefined);
    return run;
  }

  start(): Promise<void> {
    return this.#serially(() => this.#start());
  }

  stop(): Promise<void> {
    return this.#serially(() => this.#stop());
  }

  restart(): Promise<void> {
    return this.#serially(async () => {
      await this.#stop();
      await this.#start();
    });
  }

  #save(): void {
    writeJsonAtomic(join(this.#paths.dir, SSHD_STATE_FILE), this.#state);
  }

  async #start(): Promise<void> {
    if (this.isRunning()) return;
    if (this.#state.process !== null) await this.#stop();
    const { port, user } = this.#state;
    if (!(await isPortFree(port))) throw new SandboxError('sshd', `sshd: port ${port} is taken`);
    const paths = this.#paths;
    writeFileSync(paths.configFile, sshdConfig(paths, port, user));
    writeFileSync(paths.knownHostsFile, knownHostsLine(port, this.#state.hostPublicKey));
    writeFileSync(paths.sshConfigFile, sshClientConfig(paths, port, user));
    try {
      mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    } catch {
      // Not root: sshd then runs without privilege separation and says so itself if it minds.
    }
    await runCommand(SSHD, ['-t', '-f', paths.configFile], { timeoutMs: 10_000, field: 'sshd' });
    const began = Date.now();
    const record = await spawnDetached({
      name: 'sshd',
      argv: [SSHD, '-D', '-f', paths.configFile, '-E', paths.logFile],
      cwd: paths.dir,
      logFile: paths.outputLog,
    });
    this.#state = { ...this.#state, process: record };
    this.#save();
    const ready = await waitUntil(
      async () => {
        // Cheap check first, so a slow machine is not flooded with ssh clients while sshd binds.
        if (!(await canConnect(port))) return undefined;
        // A real login with strict host key checking: proves key, known_hosts and the daemon at once.
        await runCommand('ssh', [...this.sshArgs, '-o', 'ConnectTimeout=20', `${user}@${LOOPBACK}`, 'true'], {
          timeoutMs: 30_000,
          field: 'sshd',
        });
        return true;
      },
      {
        timeoutMs: this.#startTimeoutMs,
        intervalMs: 50,
        abortIf: () => (isRecordAlive(record) ? null : `sshd exited:\n${tailFile(paths.logFile)}\n${tailFile(paths.outputLog)}`),
      },
    );
    if ('error' in ready) {
      await this.#stop().catch(() => undefined);
      throw new SandboxError('sshd', `sshd on port ${port}: ${ready.error}\n${tailFile(paths.logFile)}`);
    }
    this.#log.info({ port, user, pid: record.pid, ms: Date.now() - began }, 'sshd ready');
  }

  async #stop(): Promise<void> {
    const record = this.#state.process;
    if (record === null) return;
    await stopProcess(record, { timeoutMs: 5_000 });
    this.#state = { ...this.#state, process: null };
    this.#save();
    this.#log.info({ port: this.#state.port }, 'sshd stopped');
  }
}

/**
 * Starts (or finds running) a loopback sshd in `dir` with its own host key and a user key for the
 * current user. Keys are kept across runs; the port too when it is still free.
 */
export async function startSshd(options: StartSshdOptions): Promise<SshdHandle> {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = options.log ?? silentLogger;
  const timeout = options.startTimeoutMs ?? START_TIMEOUT_MS;
  const previous = readJsonFile<SshdState>(join(dir, SSHD_STATE_FILE), 'sshd');
  if (previous !== undefined) {
    const existing = new LoopbackSshd({ ...previous, dir }, log, timeout);
    if (existing.isRunning()) return existing;
    await existing.stop();
  }
  const paths = sshdPaths(dir);
  const user = userInfo().username;
  const hostPublicKey = await ensureKeyPair(paths.hostKey, 'hpcmirror-sandbox-host');
  const userPublicKey = await ensureKeyPair(paths.identityFile, `hpcmirror-sandbox-${user}`);
  writeFileSync(paths.authorizedKeys, `${userPublicKey}\n`, { mode: 0o600 });
  const port = previous !== undefined && (await isPortFree(previous.port)) ? previous.port : await findFreePort();
  const sshd = new LoopbackSshd({ kind: 'sshd', dir, port, user, hostPublicKey, process: null }, log, timeout);
  await sshd.start();
  return sshd;
}

/** A handle on a daemon started elsewhere, from its state or its directory. */
export function attachSshd(stateOrDir: SshdState | string, options: { log?: SandboxLogger } = {}): SshdHandle {
  const state =
    typeof stateOrDir === 'string' ? readJsonFile<SshdState>(join(resolve(stateOrDir), SSHD_STATE_FILE), 'sshd') : stateOrDir;
  if (state === undefined || state.kind !== 'sshd') throw new SandboxError('sshd', `no sshd state in ${String(stateOrDir)}`);
  return new LoopbackSshd(state, options.log ?? silentLogger, START_TIMEOUT_MS);
}
