/// <reference path="./infra.d.ts" />
/**
 * vitest globalSetup: one RabbitMQ node and one loopback sshd for the whole run, handed to tests
 * with inject('infra'). Tests that restart or stop a broker start their own with startRabbitMQ.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type { SharedInfra } from './infra.js';
import {
  attachRabbitMQ,
  attachSshd,
  isRecordAlive,
  readJsonFile,
  recordFor,
  startRabbitMQ,
  startSshd,
  stopProcessesSync,
  type BrokerHandle,
  type ProcessRecord,
  type SshdHandle,
} from '../packages/sandbox/src/index.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const PREFIX = 'hpcm-test-infra-';
const OWNER_FILE = 'owner.json';

/**
 * Stops and removes the shared services of earlier runs whose vitest process is gone (killed with
 * SIGKILL, so its teardown never ran). Runs that are still alive are left alone.
 */
async function sweepOrphans(): Promise<void> {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), name);
    try {
      const owner = readJsonFile<ProcessRecord>(join(dir, OWNER_FILE));
      if (owner === undefined || isRecordAlive(owner)) continue;
      if (existsSync(join(dir, 'sshd', 'sshd.json'))) await attachSshd(join(dir, 'sshd')).stop();
      if (existsSync(join(dir, 'rabbitmq', 'broker.json'))) await attachRabbitMQ(join(dir, 'rabbitmq')).kill();
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another run sweeping the same leftovers, or a half-written dir: not ours to fail on.
    }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await sweepOrphans();
  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify(recordFor('vitest', process.pid)));
  let broker: BrokerHandle | undefined;
  let sshd: SshdHandle | undefined;
  let stopped = false;

  const records = (): ProcessRecord[] => {
    const brokerProcesses = broker?.state.processes;
    return [
      ...(sshd?.state.process ? [sshd.state.process] : []),
      ...(brokerProcesses ? [brokerProcesses.server, brokerProcesses.wrapper, brokerProcesses.epmd] : []),
    ].filter((r): r is ProcessRecord => r !== null);
  };
  // Ctrl-C or a killed run must not leave a broker behind; async teardown may never get to run.
  const emergencyStop = (): void => {
    if (stopped) return;
    stopped = true;
    stopProcessesSync(records());
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    emergencyStop();
    for (const s of SIGNALS) process.off(s, onSignal);
    // Whoever else listens (vitest) carries on; if nobody does, die of the signal as usual.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  process.once('exit', emergencyStop);

  try {
    [broker, sshd] = await Promise.all([startRabbitMQ({ dir: join(dir, 'rabbitmq'), management: true }), startSshd({ dir: join(dir, 'sshd') })]);
  } catch (err) {
    emergencyStop();
    throw err;
  }

  const infra: SharedInfra = {
    brokerUrl: broker.url,
    mgmtUrl: broker.mgmtUrl ?? '',
    ssh: {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      identityFile: sshd.identityFile,
      knownHostsFile: sshd.knownHostsFile,
      sshConfigFile: sshd.sshConfigFile,
      hostAlias: sshd.hostAlias,
      hostPublicKey: sshd.hostPublicKey,
      sshArgs: [...sshd.sshArgs],
      sshCommand: sshd.sshCommand,
    },
    dir,
  };
  project.provide('infra', infra);

  return async () => {
    for (const s of SIGNALS) process.off(s, onSignal);
    process.off('exit', emergencyStop);
    if (stopped) return;
    stopped = true;
    // The data is thrown away: no need to wait for a clean broker shutdown.
    await Promise.allSettled([sshd?.stop(), broker?.kill()]);
    stopProcessesSync(records());
    rmSync(dir, { recursive: true, force: true });
  };
}
