import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SandboxError } from './errors.js';
import { arePortsFree, findFreePorts, LOOPBACK } from './free-port.js';
import { httpGetJson } from './http-get-json.js';
import { silentLogger, type SandboxLogger } from './logger.js';
import {
  isRecordAlive,
  recordFor,
  signalRecord,
  spawnDetached,
  stopProcess,
  killGroup,
  tailFile,
  type ProcessRecord,
} from './process-control.js';
import { rabbitmqEnv, rabbitmqPaths, writeRabbitMQFiles, type RabbitMQPaths, type RabbitMQPorts } from './rabbitmq-files.js';
import { ensureTlsFiles, tlsPaths } from './rabbitmq-tls.js';
import { runCommand } from './run-command.js';
import { reapLeftovers } from './proc-scan.js';
import { readJsonFile, writeJsonAtomic } from './state-file.js';
import { canConnect } from './tcp-probe.js';
import { waitUntil } from './wait-until.js';

/** Run as root directly: /usr/sbin/rabbitmq-server would su to the rabbitmq user. */
export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
export const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
export const EPMD = 'epmd';

export const BROKER_STATE_FILE = 'broker.json';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** Helpers the node and rabbitmqctl start in sessions of their own (erl_child_setup, its port programs). */
const ERLANG_HELPERS = /erl_child_setup|inet_gethost|rabbit_disk_monitor|beam\.smp|epmd/;

export interface StartRabbitMQOptions {
  /** Private directory for data, logs, config and the erlang cookie. */
  dir: string;
  log?: SandboxLogger;
  /**
   * Enable rabbitmq_management on a free loopback port (default false). It adds little to startup
   * but about 5 s to a clean stop (its statistics handler waits on shutdown).
   */
  management?: boolean;
  /** Erlang node name; default kept from a previous run in `dir`, else hpcm_<random>@localhost. */
  nodeName?: string;
  startTimeoutMs?: number;
  /**
   * Also listen for amqps:// on a free loopback port, with a certificate for 127.0.0.1 and
   * localhost signed by a CA generated in DIR/tls (default false). Clients are not asked for one.
   */
  tls?: boolean;
}

/** Everything needed to find and stop a node from another process (saved as DIR/broker.json). */
export interface BrokerState {
  kind: 'rabbitmq';
  dir: string;
  nodeName: string;
  amqpPort: number;
  mgmtPort: number | null;
  distPort: number;
  epmdPort: number;
  /** amqps:// port; absent or null without TLS. */
  tlsPort?: number | null;
  /**
   * null while stopped. `server` is beam.smp (null until its pid file appears); `wrapper` is the
   * rabbitmq-server script, which leads the process group and turns SIGTERM into a clean stop.
   */
  processes: { epmd: ProcessRecord; wrapper: ProcessRecord; server: ProcessRecord | null } | null;
}

export interface BrokerHandle {
  /** amqp://guest:guest@127.0.0.1:PORT */
  readonly url: string;
  readonly amqpPort: number;
  readonly mgmtPort: number | undefined;
  /** http://127.0.0.1:PORT (management API and UI; user guest/guest) */
  readonly mgmtUrl: string | undefined;
  /** amqps://guest:guest@127.0.0.1:PORT when started with `tls`. */
  readonly tlsUrl: string | undefined;
  /** The CA (PEM) that signed the TLS listener's certificate: a client's `broker.tls.ca`. */
  readonly caFile: string | undefined;
  readonly nodeName: string;
  readonly dir: string;
  /** beam.smp pid; 0 while stopped. */
  readonly pid: number;
  readonly state: BrokerState;
  isRunning(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stop then start: same node, ports and data. */
  restart(): Promise<void>;
  /** SIGKILL the node, no clean shutdown: for crash tests and throwaway nodes. start() recovers it. */
  kill(): Promise<void>;
  /** SIGSTOP the node (it stops answering without closing sockets); for fault tests. */
  pause(): void;
  resume(): void;
  /** rabbitmqctl with the node's environment; resolves with stdout. */
  ctl(args: readonly string[], timeoutMs?: number): Promise<string>;
}

function newNodeName(): string {
  return `hpcm_${randomBytes(4).toString('hex')}@localhost`;
}

class RabbitMQNode implements BrokerHandle {
  readonly #paths: RabbitMQPaths;
  readonly #log: SandboxLogger;
  readonly #startTimeoutMs: number;
  #state: BrokerState;
  /** start/stop/restart run one at a time: a stop issued mid-start waits, then stops what started. */
  #lifecycle: Promise<void> = Promise.resolve();

  constructor(state: BrokerState, log: SandboxLogger, startTimeoutMs: number) {
    this.#state = state;
    this.#paths = rabbitmqPaths(state.dir);
    this.#log = log;
    this.#startTimeoutMs = startTimeoutMs;
  }

  get url(): string {
    return `amqp://guest:guest@${LOOPBACK}:${this.#state.amqpPort}`;
  }
  get amqpPort(): number {
    return this.#state.amqpPort;
  }
  get mgmtPort(): number | undefined {
    return this.#state.mgmtPort ?? undefined;
  }
  get mgmtUrl(): string | undefined {
    return this.#state.mgmtPort === null ? undefined : `http://${LOOPBACK}:${this.#state.mgmtPort}`;
  }
  get tlsUrl(): string | undefined {
    return this.#state.tlsPort == null ? undefined : `amqps://guest:guest@${LOOPBACK}:${this.#state.tlsPort}`;
  }
  get caFile(): string | undefined {
    return this.#state.tlsPort == null ? undefined : tlsPaths(this.#paths.tlsDir).caFile;
  }
  get nodeName(): string {
    return this.#state.nodeName;
  }
  get dir(): string {
    return this.#state.dir;
  }
  get pid(): number {
    return this.#state.processes?.server?.pid ?? 0;
  }
  get state(): BrokerState {
    return structuredClone(this.#state);
  }

  #ports(): RabbitMQPorts {
    const { amqpPort, mgmtPort, distPort, epmdPort, tlsPort } = this.#state;
    return { amqpPort, mgmtPort, distPort, epmdPort, tlsPort: tlsPort ?? null };
  }

  #env(): NodeJS.ProcessEnv {
    return rabbitmqEnv(this.#paths, this.#ports(), this.#state.nodeName);
  }

  #save(): void {
    writeJsonAtomic(join(this.#paths.dir, BROKER_STATE_FILE), this.#state);
  }

  isRunning(): boolean {
    const processes = this.#state.processes;
    return (
      processes !== null && processes.server !== null && isRecordAlive(processes.server) && isRecordAlive(processes.epmd)
    );
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

  kill(): Promise<void> {
    return this.#serially(async () => {
      const processes = this.#state.processes;
      if (processes === null) return;
      for (const record of [processes.server, processes.wrapper]) {
        if (record !== null) await stopProcess(record, { signal: 'SIGKILL', timeoutMs: 5_000 });
      }
      killGroup(processes.wrapper.pid);
      await stopProcess(processes.epmd, { timeoutMs: 3_000 });
      await reapLeftovers(this.#paths.dir, ERLANG_HELPERS, 1_000);
      this.#state = { ...this.#state, processes: null };
      this.#save();
      this.#log.info({ nodeName: this.nodeName }, 'rabbitmq killed');
    });
  }

  async #start(): Promise<void> {
    if (this.isRunning()) return;
    if (this.#state.processes !== null) await this.#stop();
    const ports = this.#ports();
    const portList = [ports.amqpPort, ports.distPort, ports.epmdPort, ...(ports.mgmtPort === null ? [] : [ports.mgmtPort]), ...(ports.tlsPort == null ? [] : [ports.tlsPort])];
    if (!(await arePortsFree(portList))) {
      throw new SandboxError('rabbitmq', `rabbitmq: a port of ${portList.join(', ')} is taken; cannot start ${this.nodeName}`);
    }
    if (ports.tlsPort != null) await ensureTlsFiles(this.#paths.tlsDir);
    writeRabbitMQFiles(this.#paths, ports);
    rmSync(this.#paths.pidFile, { force: true });
    const began = Date.now();
    const env = this.#env();
    const epmd = await spawnDetached({
      name: 'epmd',
      // Our own foreground epmd (not -daemon): we hold its pid, and it answers on loopback only.
      argv: [EPMD, '-port', String(ports.epmdPort), '-address', LOOPBACK],
      env,
      cwd: this.#paths.dir,
      logFile: this.#paths.epmdLog,
    });
    let wrapper: ProcessRecord | undefined;
    try {
      const epmdUp = await waitUntil(async () => ((await canConnect(ports.epmdPort)) ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 20,
        abortIf: () => (isRecordAlive(epmd) ? null : `epmd exited: ${tailFile(this.#paths.epmdLog, 5)}`),
      });
      if ('error' in epmdUp) throw new SandboxError('epmd', `epmd on port ${ports.epmdPort}: ${epmdUp.error}`);
      wrapper = await spawnDetached({
        name: 'rabbitmq-server',
        argv: [RABBITMQ_SERVER],
        env,
        cwd: this.#paths.dir,
        logFile: this.#paths.startupLog,
      });
      const started = wrapper;
      // Saved before waiting, so a `down` from another process can stop a node that is still booting.
      this.#state = { ...this.#state, processes: { epmd, wrapper: started, server: null } };
      this.#save();
      await this.#waitReady(started);
      if (ports.tlsPort != null) await this.#waitTlsListener(ports.tlsPort, started);
      const serverPid = Number(readFileSync(this.#paths.pidFile, 'utf8').trim());
      this.#state = { ...this.#state, processes: { epmd, wrapper: started, server: recordFor('beam.smp', serverPid) } };
      this.#save();
      this.#log.info(
        { nodeName: this.nodeName, url: this.url, mgmtUrl: this.mgmtUrl, pid: serverPid, ms: Date.now() - began },
        'rabbitmq ready',
      );
    } catch (err) {
      this.#log.error({ nodeName: this.nodeName, err }, 'rabbitmq failed to start');
      if (wrapper !== undefined) {
        await stopProcess(wrapper, { timeoutMs: 5_000 }).catch(() => undefined);
        killGroup(wrapper.pid);
      }
      await stopProcess(epmd, { timeoutMs: 2_000 }).catch(() => undefined);
      this.#state = { ...this.#state, processes: null };
      this.#save();
      throw err;
    }
  }

  async #waitReady(wrapper: ProcessRecord): Promise<void> {
    const abortIf = (): string | null =>
      isRecordAlive(wrapper) ? null : `rabbitmq-server exited during startup:\n${this.#logTail()}`;
    if (this.#state.mgmtPort !== null) {
      const ready = await waitUntil(() => this.#overviewReady(), { timeoutMs: this.#startTimeoutMs, intervalMs: 150, abortIf });
      if ('error' in ready) throw new SandboxError('rabbitmq', `rabbitmq ${this.nodeName}: ${ready.error}\n${this.#logTail()}`);
      return;
    }
    // Without management, rabbitmqctl's own wait (it also gives up when the OS process dies).
    const seconds = String(Math.ceil(this.#startTimeoutMs / 1000));
    await runCommand(RABBITMQCTL, ['wait', this.#paths.pidFile, '--timeout', seconds], {
      env: this.#env(),
      timeoutMs: this.#startTimeoutMs + 5_000,
      field: 'rabbitmq',
    }).catch((cause: unknown) => {
      throw new SandboxError('rabbitmq', `rabbitmq ${this.nodeName} did not start:\n${this.#logTail()}`, { cause });
    });
  }

  async #waitTlsListener(port: number, wrapper: ProcessRecord): Promise<void> {
    const up = await waitUntil(async () => ((await canConnect(port)) ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 50,
      abortIf: () => (isRecordAlive(wrapper) ? null : `rabbitmq-server exited:\n${this.#logTail()}`),
    });
    if ('error' in up) throw new SandboxError('rabbitmq', `rabbitmq ${this.nodeName}: TLS listener on port ${port}: ${up.error}\n${this.#logTail()}`);
  }

  /** Ready = management answers, the AMQP listener is registered and the consistent-hash type exists. */
  async #overviewReady(): Promise<true | undefined> {
    const response = await httpGetJson(`${this.mgmtUrl}/api/overview`, 'guest:guest');
    if (response.status !== 200) return undefined;
    const overview = response.body as {
      listeners?: { protocol: string; port: number }[];
      exchange_types?: { name: string }[];
    };
    const amqp = overview.listeners?.some((l) => l.protocol === 'amqp' && l.port === this.amqpPort) ?? false;
    const hash = overview.exchange_types?.some((t) => t.name === 'x-consistent-hash') ?? false;
    return amqp && hash && (await canConnect(this.amqpPort)) ? true : undefined;
  }

  #logTail(): string {
    const nodeLog = join(this.#paths.logDir, `${this.nodeName}.log`);
    return [tailFile(this.#paths.startupLog, 10), tailFile(nodeLog, 10)].filter((t) => t !== '').join('\n');
  }

  async #stop(): Promise<void> {
    const processes = this.#state.processes;
    if (processes === null) return;
    const began = Date.now();
    // beam.smp turns SIGTERM into a clean shutdown (about a second); SIGKILL only if that hangs.
    if (processes.server !== null) await stopProcess(processes.server, { timeoutMs: STOP_TIMEOUT_MS });
    await stopProcess(processes.wrapper, { timeoutMs: processes.server === null ? STOP_TIMEOUT_MS : 3_000 });
    // Whatever the start scripts forked shares the wrapper's group; erl_child_setup has its own
    // session, so its helpers are reaped by directory below.
    killGroup(processes.wrapper.pid);
    await stopProcess(processes.epmd, { timeoutMs: 3_000 });
    await reapLeftovers(this.#paths.dir, ERLANG_HELPERS);
    this.#state = { ...this.#state, processes: null };
    this.#save();
    this.#log.info({ nodeName: this.nodeName, ms: Date.now() - began }, 'rabbitmq stopped');
  }

  pause(): void {
    const server = this.#state.processes?.server ?? null;
    if (server === null || !signalRecord(server, 'SIGSTOP')) {
      throw new SandboxError('rabbitmq', `rabbitmq ${this.nodeName} is not running; cannot pause it`);
    }
  }

  resume(): void {
    const server = this.#state.processes?.server ?? null;
    if (server !== null) signalRecord(server, 'SIGCONT');
  }

  async ctl(args: readonly string[], timeoutMs = 60_000): Promise<string> {
    // rabbitmqctl would start a stray `epmd -daemon` if ours were gone.
    if (this.#state.processes === null || !isRecordAlive(this.#state.processes.epmd)) {
      throw new SandboxError('rabbitmq', `rabbitmq ${this.nodeName} is not running; rabbitmqctl ${args.join(' ')} not run`);
    }
    const { stdout } = await runCommand(RABBITMQCTL, ['-n', this.nodeName, ...args], {
      env: this.#env(),
      timeoutMs,
      field: 'rabbitmq',
    });
    return stdout;
  }
}

async function freshState(dir: string, options: StartRabbitMQOptions, previous: BrokerState | undefined): Promise<BrokerState> {
  const management = options.management ?? false;
  const tls = options.tls ?? false;
  const nodeName = options.nodeName ?? previous?.nodeName ?? newNodeName();
  if (previous !== undefined && (previous.mgmtPort !== null) === management && (previous.tlsPort != null) === tls) {
    const ports = [previous.amqpPort, previous.distPort, previous.epmdPort, ...(previous.mgmtPort === null ? [] : [previous.mgmtPort]),
      ...(previous.tlsPort == null ? [] : [previous.tlsPort])];
    if (await arePortsFree(ports)) return { ...previous, dir, nodeName, processes: null };
  }
  const [amqpPort, distPort, epmdPort, ...extra] = (await findFreePorts(3 + (management ? 1 : 0) + (tls ? 1 : 0))) as [number, number, number, ...number[]];
  const mgmtPort = management ? extra.shift()! : null;
  const tlsPort = tls ? extra.shift()! : null;
  return { kind: 'rabbitmq', dir, nodeName, amqpPort, mgmtPort, distPort, epmdPort, tlsPort, processes: null };
}

/**
 * Starts (or finds running) a private RabbitMQ node in `dir`. A node already running from this
 * dir is returned as is; a stopped one restarts with its node name (so its data) and, when still
 * free, its ports.
 */
export async function startRabbitMQ(options: StartRabbitMQOptions): Promise<BrokerHandle> {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = options.log ?? silentLogger;
  const timeout = options.startTimeoutMs ?? START_TIMEOUT_MS;
  const previous = readJsonFile<BrokerState>(join(dir, BROKER_STATE_FILE), 'rabbitmq');
  if (previous !== undefined) {
    const running = new RabbitMQNode({ ...previous, dir }, log, timeout);
    if (running.isRunning()) return running;
    await running.stop();
  }
  const node = new RabbitMQNode(await freshState(dir, options, previous), log, timeout);
  await node.start();
  return node;
}

/** A handle on a node started elsewhere (another process), from its state or its directory. */
export function attachRabbitMQ(stateOrDir: BrokerState | string, options: { log?: SandboxLogger } = {}): BrokerHandle {
  let state: BrokerState | undefined;
  if (typeof stateOrDir === 'string') {
    state = readJsonFile<BrokerState>(join(resolve(stateOrDir), BROKER_STATE_FILE), 'rabbitmq');
    if (state === undefined) throw new SandboxError('rabbitmq', `no RabbitMQ node state in ${stateOrDir}`);
  } else {
    state = stateOrDir;
  }
  if (state.kind !== 'rabbitmq') throw new SandboxError('rabbitmq', 'broker state is not a RabbitMQ node');
  return new RabbitMQNode(state, options.log ?? silentLogger, START_TIMEOUT_MS);
}
