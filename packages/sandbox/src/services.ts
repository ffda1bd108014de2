import { SandboxError } from './errors.js';
import { isRecordAlive, spawnDetached, stopProcess, tailFile, type ProcessRecord } from './process-control.js';
import { waitUntil } from './wait-until.js';

/**
 * A long-running process the sandbox starts after the broker and sshd (agent, winnow, subscriber
 * pools...), e.g. { name: 'agent', argv: ['node', 'packages/cli/dist/bin.js', 'agent', '--config', 'DIR/agent.yaml'] }.
 */
export interface ServiceSpec {
  /** Unique within the sandbox; the key in sandbox.json `pids`. */
  name: string;
  argv: string[];
  /** Added to the sandbox's own environment. */
  env?: Record<string, string>;
  /** Default: the sandbox directory. */
  cwd?: string;
  /** Default: DIR/logs/<name>.log. */
  logFile?: string;
  /** Resolves true once the service is ready; polled until readyTimeoutMs. Default: started = ready. */
  ready?: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL at `down`; default 10 s. */
  stopTimeoutMs?: number;
}

/** What sandbox.json keeps of a started service. */
export interface ServiceRecord extends ProcessRecord {
  argv: string[];
  logFile: string;
  stopTimeoutMs: number;
}

export async function startService(spec: Required<Pick<ServiceSpec, 'cwd' | 'logFile'>> & ServiceSpec, env: NodeJS.ProcessEnv): Promise<ServiceRecord> {
  const record = await spawnDetached({
    name: spec.name,
    argv: spec.argv,
    env: { ...env, ...spec.env },
    cwd: spec.cwd,
    logFile: spec.logFile,
  });
  return { ...record, argv: [...spec.argv], logFile: spec.logFile, stopTimeoutMs: spec.stopTimeoutMs ?? 10_000 };
}

/** Waits for a started service's own readiness check; fails fast with its log tail when it exits. */
export async function awaitServiceReady(spec: ServiceSpec, record: ServiceRecord): Promise<void> {
  const ready = spec.ready;
  const abortIf = (): string | null => (isRecordAlive(record) ? null : `${spec.name} exited:\n${tailFile(record.logFile)}`);
  if (ready === undefined) {
    // Started means ready, but a service that dies at once (bad config) should still fail `up`.
    await new Promise((r) => setTimeout(r, 200));
    const died = abortIf();
    if (died !== null) throw new SandboxError(spec.name, died);
    return;
  }
  const result = await waitUntil(async () => ((await ready()) ? true : undefined), {
    timeoutMs: spec.readyTimeoutMs ?? 60_000,
    intervalMs: 100,
    abortIf,
  });
  if ('error' in result) throw new SandboxError(spec.name, `${spec.name}: ${result.error}\n${tailFile(record.logFile)}`);
}

/** Stops services in reverse start order (consumers before what they consume from). */
export async function stopServices(records: readonly ServiceRecord[]): Promise<string[]> {
  const stopped: string[] = [];
  for (const record of [...records].reverse()) {
    if (isRecordAlive(record)) stopped.push(record.name);
    await stopProcess(record, { timeoutMs: record.stopTimeoutMs });
  }
  return stopped;
}
