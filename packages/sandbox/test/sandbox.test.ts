import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDown, sandboxStatus, sandboxUp, type SandboxUpResult } from '../src/sandbox.js';
import { isAlive } from '../src/process-control.js';
import { processesUsing } from '../src/proc-scan.js';
import type { ServiceSpec } from '../src/services.js';

const run = promisify(execFile);

/** A stand-in component: notes its own stop in `order` so the stop sequence can be checked. */
function fakeService(dir: string, name: string): ServiceSpec {
  const script = `trap 'echo ${name} >> ${join(dir, 'order')}; exit 0' TERM; touch ${join(dir, `${name}.ready`)}; while :; do sleep 0.05; done`;
  return {
    name,
    argv: ['bash', '-c', script],
    ready: async () => existsSync(join(dir, `${name}.ready`)),
    readyTimeoutMs: 30_000, // a bash and a touch: instant when idle, seconds on a loaded machine
  };
}

// One sandbox for the file: up, up again, status, down. Without management, whose clean stop costs
// 5 s; the shared broker of global-setup covers the management path.
describe('sandbox up/status/down', () => {
  let dir: string;
  let up: SandboxUpResult;
  let prepareCalls = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hpcm-sandbox-test-'));
    up = await sandboxUp({
      dir,
      management: false,
      log: process.env.HPCM_TEST_LOG ? { info: console.log, warn: console.log, error: console.log, debug: () => undefined } : undefined,
      prepare: (state) => {
        prepareCalls++;
        expect(state.brokerUrl).toMatch(/^amqp:/);
        return { services: [fakeService(dir, 'first'), fakeService(dir, 'second')], shimEnv: { HPCMIRROR_SPOOL: join(dir, 'spool') } };
      },
    });
  });

  afterAll(async () => {
    await sandboxDown({ dir });
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes sandbox.json with broker, ssh, dirs, pids and the shim env', async () => {
    const saved = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8'));
    expect(saved.brokerUrl).toBe(up.brokerUrl);
    expect(saved.exchange).toMatch(/^xs_.+_sandbox$/);
    expect(saved.src).toBe(join(dir, 'primary'));
    expect(saved.dst).toBe(join(dir, 'secondary'));
    expect(existsSync(saved.src) && existsSync(saved.dst)).toBe(true);
    expect(saved.transport).toBe('sftp');
    expect(saved.shimEnv).toEqual({ HPCMIRROR_SPOOL: join(dir, 'spool') });
    expect(Object.keys(saved.pids)).toEqual(['rabbitmq', 'epmd', 'sshd', 'first', 'second']);
    for (const pid of Object.values(saved.pids)) expect(isAlive(pid as number)).toBe(true);

    const connection = await amqp.connect(up.brokerUrl);
    await connection.close();
    const ssh = up.ssh;
    const { stdout } = await run('ssh', ['-F', ssh.sshConfigFile, ssh.hostAlias, 'echo', 'ok']);
    expect(stdout.trim()).toBe('ok');
  });

  it('is a no-op when run again on the live sandbox', async () => {
    const again = await sandboxUp({ dir, prepare: () => ({ services: [fakeService(dir, 'third')] }) });
    expect(again.alreadyRunning).toBe(true);
    expect(again.pids).toEqual(up.pids);
    expect(prepareCalls).toBe(1);
  });

  it('reports every process alive', async () => {
    const status = await sandboxStatus({ dir });
    expect(status?.running).toBe(true);
    expect(status?.alive).toEqual({ rabbitmq: true, epmd: true, sshd: true, first: true, second: true });
  });

  it('down stops all by pid in reverse order, keeps the data, leaves no process', async () => {
    const down = await sandboxDown({ dir, log: process.env.HPCM_TEST_LOG ? { info: console.log, warn: console.log, error: console.log, debug: () => undefined } : undefined });
    expect(down.stopped).toEqual(['second', 'first', 'sshd', 'rabbitmq']);
    expect(readFileSync(join(dir, 'order'), 'utf8')).toBe('second\nfirst\n');
    for (const pid of Object.values(up.pids)) expect(isAlive(pid)).toBe(false);
    expect(down.leftovers).toEqual([]);
    expect(processesUsing(dir)).toEqual([]);
    expect(existsSync(join(dir, 'rabbitmq', 'mnesia'))).toBe(true);
    const status = await sandboxStatus({ dir });
    expect(status?.running).toBe(false);
    expect(status?.pids).toEqual({});
    expect((await sandboxDown({ dir })).stopped).toEqual([]);
  });
});
