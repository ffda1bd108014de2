import { existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { withDirLock } from './dir-lock.js';
import { SandboxError } from './errors.js';
import { silentLogger, type SandboxLogger } from './logger.js';
import { isRecordAlive } from './process-control.js';
import { processesUsing, type ProcessInfo } from './proc-scan.js';
import { attachRabbitMQ, BROKER_STATE_FILE, startRabbitMQ, type BrokerHandle } from './rabbitmq.js';
import {
  DEFAULT_SANDBOX_DIR,
  readSandboxState,
  SANDBOX_TRANSPORTS,
  writeSandboxState,
  type SandboxState,
  type SandboxTransport,
} from './sandbox-state.js';
import { awaitServiceReady, startService, stopServices, type ServiceSpec } from './services.js';
import { attachSshd, SSHD_STATE_FILE, startSshd, type SshdHandle } from './sshd.js';

/** What the caller adds once broker and sshd are up: its components and the shim environment. */
export interface SandboxAddOns {
  services?: ServiceSpec[];
  shimEnv?: Record<string, string>;
  extra?: Record<string, unknown>;
}

export interface SandboxUpOptions {
  /** Default ./.hpcmirror-sandbox */
  dir?: string;
  /** Default DIR/primary */
  src?: string;
  /** Default DIR/secondary */
  dst?: string;
  /** Default sftp */
  transport?: SandboxTransport;
  log?: SandboxLogger;
  /** RabbitMQ management plugin (default true here: `status` and the web UI use it). */
  management?: boolean;
  /**
   * Called with the state once broker and sshd are ready (so it can write DIR/agent.yaml etc. from
   * brokerUrl and ssh), returns the services to start, in order, and the shim environment.
   */
  prepare?: (state: SandboxState) => SandboxAddOns | Promise<SandboxAddOns>;
}

export interface SandboxUpResult extends SandboxState {
  /** true when the sandbox was already running and nothing was started. */
  alreadyRunning: boolean;
}

export interface SandboxStatus extends SandboxState {
  /** Every recorded process is alive. */
  running: boolean;
  alive: Record<string, boolean>;
}

export interface SandboxDownResult {
  dir: string;
  /** Names of the processes that were running and are now stopped. */
  stopped: string[];
  /** Processes still using DIR after down (started by hand in it, or a user's shell); reported, not killed. */
  leftovers: ProcessInfo[];
}

export function resolveSandboxDir(dir: string | undefined): string {
  return resolve(dir ?? DEFAULT_SANDBOX_DIR);
}

function brokerDir(dir: string): string {
  return join(dir, 'rabbitmq');
}

function sshdDir(dir: string): string {
  return join(dir, 'sshd');
}

/** Handles on the broker and sshd recorded in DIR, when they were ever started. */
function recordedInfra(dir: string, log: SandboxLogger): { broker?: BrokerHandle; sshd?: SshdHandle } {
  return {
    ...(existsSync(join(brokerDir(dir), BROKER_STATE_FILE)) ? { broker: attachRabbitMQ(brokerDir(dir), { log }) } : {}),
    ...(existsSync(join(sshdDir(dir), SSHD_STATE_FILE)) ? { sshd: attachSshd(sshdDir(dir), { log }) } : {}),
  };
}

/** Liveness per name, read from the broker and sshd state files and the service records. */
function aliveMap(state: SandboxState): Record<string, boolean> {
  const alive: Record<string, boolean> = {};
  const infra = recordedInfra(state.dir, silentLogger);
  const broker = infra.broker?.state.processes ?? null;
  const sshd = infra.sshd?.state.process ?? null;
  alive.rabbitmq = broker?.server != null && isRecordAlive(broker.server);
  alive.epmd = broker !== null && isRecordAlive(broker.epmd);
  alive.sshd = sshd !== null && isRecordAlive(sshd);
  for (const service of state.services) alive[service.name] = isRecordAlive(service);
  return alive;
}

function pidsOf(broker: BrokerHandle, sshd: SshdHandle): Record<string, number> {
  const processes = broker.state.processes;
  return {
    rabbitmq: broker.pid,
    ...(processes === null ? {} : { epmd: processes.epmd.pid }),
    sshd: sshd.pid,
  };
}

function checkServices(services: readonly ServiceSpec[]): void {
  const seen = new Set(['rabbitmq', 'epmd', 'sshd']);
  for (const service of services) {
    if (seen.has(service.name)) throw new SandboxError('sandbox', `service name "${service.name}" is used twice or reserved`);
    if (service.argv.length === 0) throw new SandboxError(service.name, `service "${service.name}" has an empty argv`);
    seen.add(service.name);
  }
}

async function bringUp(dir: string, options: SandboxUpOptions, log: SandboxLogger): Promise<SandboxUpResult> {
  const previous = readSandboxState(dir);
  if (previous !== undefined) {
    const alive = aliveMap(previous);
    if (previous.startedAt !== null && previous.stoppedAt === null && Object.values(alive).every(Boolean)) {
      log.info({ dir }, 'sandbox already running');
      return { ...previous, alreadyRunning: true };
    }
    // Half-alive (a crash, a reboot): clear what is left, then start afresh on the same data.
    await tearDown(dir, previous, log);
  }
  const transport = options.transport ?? previous?.transport ?? 'sftp';
  if (!SANDBOX_TRANSPORTS.includes(transport)) {
    throw new SandboxError('sandbox', `unknown transport "${String(transport)}"; use one of ${SANDBOX_TRANSPORTS.join(', ')}`);
  }
  const src = resolve(options.src ?? previous?.src ?? join(dir, 'primary'));
  const dst = resolve(options.dst ?? previous?.dst ?? join(dir, 'secondary'));
  if (src === dst || src.startsWith(`${dst}/`) || dst.startsWith(`${src}/`)) {
    throw new SandboxError('sandbox', `src ${src} and dst ${dst} must not contain each other`);
  }
  mkdirSync(src, { recursive: true });
  mkdirSync(dst, { recursive: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });

  const began = Date.now();
  const [broker, sshd] = await Promise.all([
    startRabbitMQ({ dir: brokerDir(dir), log, management: options.management ?? true }),
    startSshd({ dir: sshdDir(dir), log }),
  ]).catch(async (err: unknown) => {
    await tearDown(dir, undefined, log).catch(() => undefined);
    throw err;
  });

  const state: SandboxState = {
    version: 1,
    dir,
    brokerUrl: broker.url,
    mgmtUrl: broker.mgmtUrl ?? null,
    exchange: `xs_${userInfo().username}_sandbox`,
    src,
    dst,
    transport,
    ssh: {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      identityFile: sshd.identityFile,
      knownHostsFile: sshd.knownHostsFile,
      sshConfigFile: sshd.sshConfigFile,
      hostAlias: sshd.hostAlias,
      hostPublicKey: sshd.hostPublicKey,
    },
    pids: pidsOf(broker, sshd),
    services: [],
    shimEnv: {},
    extra: {},
    startedAt: null,
    stoppedAt: null,
  };
  writeSandboxState(state);

  try {
    const addOns = (await options.prepare?.(structuredClone(state))) ?? {};
    const services = addOns.services ?? [];
    checkServices(services);
    state.shimEnv = addOns.shimEnv ?? {};
    state.extra = addOns.extra ?? {};
    const env: NodeJS.ProcessEnv = { ...process.env, HPCMIRROR_SANDBOX: dir };
    for (const spec of services) {
      const record = await startService(
        { ...spec, cwd: spec.cwd ?? dir, logFile: spec.logFile ?? join(dir, 'logs', `${spec.name}.log`) },
        env,
      );
      // Recorded before waiting, so `down` finds it even if readiness never comes.
      state.services.push(record);
      state.pids[spec.name] = record.pid;
      writeSandboxState(state);
      await awaitServiceReady(spec, record);
      log.info({ service: spec.name, pid: record.pid }, 'sandbox service ready');
    }
  } catch (err) {
    log.error({ dir, err }, 'sandbox up failed; stopping what started');
    await tearDown(dir, state, log).catch(() => undefined);
    throw err;
  }
  state.startedAt = new Date().toISOString();
  writeSandboxState(state);
  log.info({ dir, ms: Date.now() - began, brokerUrl: state.brokerUrl, sshPort: state.ssh.port }, 'sandbox up');
  return { ...state, alreadyRunning: false };
}

/** Stops services (reverse order), then sshd, then the broker; keeps every file. */
async function tearDown(dir: string, state: SandboxState | undefined, log: SandboxLogger): Promise<string[]> {
  const stopped = state === undefined ? [] : await stopServices(state.services);
  const { broker, sshd } = recordedInfra(dir, log);
  if (sshd !== undefined) {
    if (sshd.isRunning()) stopped.push('sshd');
    await sshd.stop();
  }
  if (broker !== undefined) {
    if (broker.isRunning()) stopped.push('rabbitmq');
    await broker.stop();
  }
  if (state !== undefined) {
    writeSandboxState({ ...state, pids: {}, services: state.services, stoppedAt: new Date().toISOString() });
  }
  return stopped;
}

/**
 * Brings up broker, sshd and the services `prepare` returns; writes DIR/sandbox.json; resolves once
 * all are ready. On a sandbox that is already fully running it changes nothing and returns its state.
 */
export async function sandboxUp(options: SandboxUpOptions = {}): Promise<SandboxUpResult> {
  const dir = resolveSandboxDir(options.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = options.log ?? silentLogger;
  return withDirLock(join(dir, '.lock'), () => bringUp(dir, options, log));
}

/** Stops everything `up` started, by pid, in reverse order; keeps the data. Idempotent. */
export async function sandboxDown(options: { dir?: string; log?: SandboxLogger } = {}): Promise<SandboxDownResult> {
  const dir = resolveSandboxDir(options.dir);
  const log = options.log ?? silentLogger;
  const state = readSandboxState(dir);
  if (state === undefined) return { dir, stopped: [], leftovers: [] };
  const stopped = await withDirLock(join(dir, '.lock'), () => tearDown(dir, readSandboxState(dir), log));
  log.info({ dir, stopped }, 'sandbox down');
  return { dir, stopped, leftovers: processesUsing(dir) };
}

/** The recorded state with liveness per process; undefined when DIR holds no sandbox. */
export async function sandboxStatus(options: { dir?: string } = {}): Promise<SandboxStatus | undefined> {
  const dir = resolveSandboxDir(options.dir);
  const state = readSandboxState(dir);
  if (state === undefined) return undefined;
  const alive = state.startedAt === null && state.stoppedAt === null ? {} : aliveMap(state);
  const running = state.stoppedAt === null && Object.keys(alive).length > 0 && Object.values(alive).every(Boolean);
  return { ...state, running, alive };
}
