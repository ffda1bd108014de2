import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findFreePorts, isRecordAlive, readSandboxState, recordFor, spawnDetached, stopProcess, writeSandboxState, type ProcessRecord,
} from '../../packages/sandbox/src/index.js';
import { RABBITMQ_SERVER, RABBITMQCTL, EPMD } from '../../packages/sandbox/src/rabbitmq.js';
import { rabbitmqEnv, rabbitmqPaths, writeRabbitMQFiles, type RabbitMQPorts } from '../../packages/sandbox/src/rabbitmq-files.js';
import { runCommand } from '../../packages/sandbox/src/run-command.js';
import { SandboxUnderTest } from '../e2e/cli-harness.js';
import { killService } from '../e2e/mirror-checks.js';
import { assignedEvents, Canary, explain, leftoverTemps, LONG, recordRow, runWriter, settle, watchPartials, type FaultRow } from './fault-kit.js';

/**
 * How a site scales out (docs/scale-out.md): a three-node RabbitMQ cluster on this machine (private
 * nodes, own ports, one epmd, one cookie) with `broker.queue_type: quorum`; agent, winnow and
 * subscriber of the sandbox reach it through one address (a TCP front that connects to the first
 * live node, as a load balancer would). One node is stopped in the middle of a workload: nothing is
 * lost, the flow goes on. Slow (three brokers on two cores): long form only (HPCM_FAULTS_LONG=1, or
 * HPCM_FAULTS_CLUSTER=1 for just this file).
 */
const RUN = LONG || process.env.HPCM_FAULTS_CLUSTER === '1';

interface ClusterNode { name: string; ports: RabbitMQPorts; dir: string; wrapper?: ProcessRecord; server?: ProcessRecord }

describe.skipIf(!RUN)('three-node RabbitMQ cluster with quorum queues, one node stopped mid-flow', () => {
  const sb = new SandboxUnderTest('sftp');
  const nodes: ClusterNode[] = [];
  let epmd: ProcessRecord | undefined;
  let front: Server | undefined;
  const sockets = new Set<Socket>();
  let canary: Canary;

  const ctl = (n: ClusterNode, args: string[]) =>
    runCommand(RABBITMQCTL, ['-n', n.name, ...args], { env: rabbitmqEnv(rabbitmqPaths(n.dir), n.ports, n.name), timeoutMs: 180_000, field: 'rabbitmq' });

  beforeAll(async () => {
    canary = new Canary(sb.dir);
    await sb.up();
    const base = join(sb.dir, 'cluster');
    const [epmdPort, ...ports] = await findFreePorts(7);
    const cookie = randomBytes(15).toString('hex').toUpperCase();
    const tag = randomBytes(3).toString('hex');
    for (let i = 0; i < 3; i++) {
      const dir = join(base, `n${i}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, '.erlang.cookie'), cookie, { mode: 0o400 });
      nodes.push({ name: `hpcmfx${i}_${tag}@localhost`, dir, ports: { amqpPort: ports[2 * i]!, distPort: ports[2 * i + 1]!, epmdPort: epmdPort!, mgmtPort: null } });
    }
    const env0 = rabbitmqEnv(rabbitmqPaths(nodes[0]!.dir), nodes[0]!.ports, nodes[0]!.name);
    epmd = await spawnDetached({ name: 'epmd', argv: [EPMD, '-port', String(epmdPort), '-address', '127.0.0.1'], env: env0, cwd: base, logFile: join(base, 'epmd.log') });
    await Promise.all(nodes.map(async (n) => {
      const paths = rabbitmqPaths(n.dir);
      writeRabbitMQFiles(paths, n.ports);
      n.wrapper = await spawnDetached({ name: 'rabbitmq-server', argv: [RABBITMQ_SERVER], env: rabbitmqEnv(paths, n.ports, n.name), cwd: n.dir, logFile: paths.startupLog });
    }));
    for (const n of nodes) await ctl(n, ['await_startup', '--timeout', '170']);
    for (const n of nodes) n.server = recordFor('beam.smp', Number(readFileSync(rabbitmqPaths(n.dir).pidFile, 'utf8').trim()));
    for (const n of nodes.slice(1)) {
      await ctl(n, ['stop_app']);
      await ctl(n, ['join_cluster', nodes[0]!.name]);
      await ctl(n, ['start_app']);
    }
    // One address for the clients, like a load balancer: the first node that accepts.
    front = createServer((a) => {
      sockets.add(a);
      a.pause();
      const tryNode = (i: number): void => {
        if (i >= nodes.length) { a.destroy(); return; }
        const b = createConnection({ host: '127.0.0.1', port: nodes[i]!.ports.amqpPort });
        b.once('error', () => { b.destroy(); tryNode(i + 1); });
        b.once('connect', () => {
          sockets.add(b);
          b.removeAllListeners('error');
          for (const s of [a, b]) s.on('error', () => { a.destroy(); b.destroy(); });
          a.on('close', () => b.destroy());
          b.on('close', () => a.destroy());
          a.pipe(b);
          b.pipe(a);
          a.resume();
        });
      };
      tryNode(0);
    });
    const [frontPort] = await findFreePorts(1);
    await new Promise<void>((r) => front!.listen(frontPort, '127.0.0.1', r));

    const cfg = readFileSync(join(sb.dir, 'configs/forward.yaml'), 'utf8')
      .replace(/(url: amqp:\/\/[^@]+@127\.0\.0\.1:)\d+/, `$1${frontPort}`)
      .replace(/^broker:$/m, 'broker:\n  queue_type: quorum');
    const cfgFile = join(sb.dir, 'configs/forward-cluster.yaml');
    writeFileSync(cfgFile, cfg);
    for (const name of ['subscriber', 'winnow', 'agent'] as const) {
      await killService(sb, name);
      const st = readSandboxState(sb.dir)!;
      const i = st.services.findIndex((s) => s.name === name);
      const old = st.services[i]!;
      const argv = [...old.argv.slice(0, -1), cfgFile];
      const record = await spawnDetached({ name, argv, cwd: sb.dir, logFile: old.logFile, env: { ...process.env, HPCMIRROR_SANDBOX: sb.dir, HPCM_SHIM: '0', LD_PRELOAD: '' } });
      st.services[i] = { ...old, argv, pid: record.pid, startTime: record.startTime };
      st.pids[name] = record.pid;
      writeSandboxState(st);
    }
  }, 900_000);

  afterAll(async () => {
    await sb.down();
    for (const s of sockets) s.destroy();
    await new Promise((r) => (front ? front.close(r) : r(undefined)));
    for (const n of nodes) {
      for (const r of [n.server, n.wrapper]) if (r && isRecordAlive(r)) await stopProcess(r, { timeoutMs: 20_000 });
    }
    if (epmd) await stopProcess(epmd, { timeoutMs: 5_000 });
    if (!process.env.HPCM_E2E_KEEP) rmSync(sb.dir, { recursive: true, force: true });
  }, 180_000);

  it('node 0 (which every client is connected to) stopped mid-flow: nothing lost, the flow goes on', async () => {
    const prefix = 'cluster';
    const before = assignedEvents(sb);
    const stopWatch = watchPartials(sb, prefix);
    const queues = (await ctl(nodes[1]!, ['list_queues', 'name', 'type'])).stdout;
    const writer = runWriter(sb, prefix, 77, 1200, 16 << 10, 0.02);
    writer.catch(() => undefined);
    await sleep(8000);
    const n0 = nodes[0]!;
    await stopProcess(n0.server!, { timeoutMs: 30_000 });
    await stopProcess(n0.wrapper!, { timeoutMs: 10_000 });
    await writer;
    const v = await settle(sb, prefix, 900);
    const partials = [...(await stopWatch()), ...leftoverTemps(sb, prefix)];
    const quorum = queues.split('\n').filter((l) => /\tquorum$/.test(l)).length;
    const row: FaultRow = {
      name: 'fault: 3-node cluster, quorum queues, node stopped', runs: 1, events: assignedEvents(sb) - before,
      lost: v.lost.length, divergent: v.divergent.length, partial: partials.length, outside: canary.writes(), parked: '-',
      note: `${quorum} quorum queues`,
    };
    recordRow(row);
    expect(quorum).toBeGreaterThan(10);
    expect(v.waitCode, explain(sb, row, v, partials)).toBe(0);
    expect(row.lost + row.divergent + row.partial + row.outside, explain(sb, row, v, partials)).toBe(0);
  }, 1_200_000);
});
