import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRabbitMQ, type BrokerHandle } from '@hpcmirror/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '../src/index.js';
import { encodeRecord } from '../src/spool/record.js';
import { bindTestQueue, drainQueue, testAgentConfig, type ReceivedMessage } from './broker-helpers.js';
import { b, fileStat, tempDir, uniqueFlow } from './helpers.js';

describe('agent: broker restart mid-stream', () => {
  const tmp = tempDir('brokerrestart');
  let broker: BrokerHandle | undefined;
  let agent: Agent | undefined;
  beforeAll(async () => {
    broker = await startRabbitMQ({ dir: join(tmp.dir, 'rabbitmq'), management: false });
  }, 120_000);
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
    tmp.cleanup();
  });

  // A RabbitMQ restart alone takes 5-10 s, much more on a loaded machine.
  it('loses nothing: the spool holds what the broker could not take', { timeout: 120_000 }, async () => {
    if (!broker) throw new Error('no broker');
    const root = join(tmp.dir, 'root');
    const spool = join(tmp.dir, 'spool');
    mkdirSync(root);
    mkdirSync(spool, { mode: 0o700 });
    const flow = uniqueFlow('restart');
    const config = testAgentConfig({ flow, brokerUrl: broker.url, sourceRoot: root, stateDir: join(tmp.dir, 'state'), spoolDir: spool });
    const queue = `test.${flow}`;
    await bindTestQueue(broker.url, config.exchange, queue);
    const seg = join(spool, `hpc1.${String(Math.floor(Date.now() / 1000)).padStart(12, '0')}.seg`);
    const write = (from: number, to: number): void => {
      const recs: Buffer[] = [];
      for (let i = from; i < to; i++) recs.push(encodeRecord({ op: 'CLOSE_W', pid: 7, timeNs: BigInt(i), path: b(join(root, `f${i}`)), stat: fileStat(i) }));
      appendFileSync(seg, Buffer.concat(recs));
    };
    const TOTAL = 1500;
    agent = createAgent({ config, window: 200 });
    await agent.start();
    write(0, 1000);
    const deadline = Date.now() + 20_000;
    while (agent.metrics().confirmed < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await broker.stop();
    write(1000, TOTAL);
    // Broker down: the window fills and the agent stops reading instead of taking the spool into memory.
    const full = Date.now() + 15_000;
    while (agent.metrics().pending < 200 && Date.now() < full) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.metrics().pending).toBe(200);
    expect(agent.metrics().recordsRead).toBeLessThan(TOTAL);
    await broker.start();

    const received: ReceivedMessage[] = [];
    const paths = (): Set<unknown> => new Set(received.map((m) => m.body.relPath));
    await drainQueue(broker.url, queue, () => paths().size >= TOTAL, 45_000, received);
    expect(paths().size).toBe(TOTAL);
    const seqs = new Set(received.map((m) => m.body.hpcm_seq as number));
    const max = Math.max(...seqs);
    expect(Array.from({ length: max }, (_, i) => i + 1).filter((n) => !seqs.has(n))).toEqual([]);
  });
});
