import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerConnection, Publisher, StageConsumer, declareStage, silentLogger, type StageSpec } from '@hpcmirror/core';
import { startRabbitMQ, type BrokerHandle } from '../../packages/sandbox/src/rabbitmq.js';

// A private broker: this test restarts it, which must not disturb the shared one.
describe('broker layer across a RabbitMQ restart', () => {
  let broker: BrokerHandle;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hpcm-broker-restart-'));
    broker = await startRabbitMQ({ dir, management: false });
  }, 90_000);
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('10,000 messages published with a restart in the middle: all confirmed, all consumed once after dedup', async () => {
    const log = silentLogger();
    const stage: StageSpec = { name: 'q_test_restart.stage', from: 'xs_test_restart', shards: 2, retryLevelsMs: [1000] };
    const pubConn = new BrokerConnection({ url: broker.url, logger: log, reconnectS: 0.5, heartbeatS: 5 });
    const subConn = new BrokerConnection({ url: broker.url, logger: log, reconnectS: 0.5, heartbeatS: 5 });
    const publisher = new Publisher(pubConn, { setup: async (ch) => { await declareStage(ch, stage); }, timeoutMs: 180_000 }); // the restart itself takes up to a minute or two on a loaded 2-core machine
    await publisher.waitReady();

    const seen = new Map<string, number>();
    const consumer = new StageConsumer(subConn, {
      stage, prefetch: 200, maxAttempts: 5, logger: log,
      onMessage: (d) => {
        seen.set(d.messageId!, (seen.get(d.messageId!) ?? 0) + 1);
        d.ack();
      },
    });
    await consumer.start();

    const N = 10_000;
    let confirmed = 0;
    let restarted: Promise<void> | undefined;
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < N; i++) {
      if (i === 3000) restarted = broker.restart();
      const p = publisher.publish(stage.from, 'v03.x', Buffer.from(JSON.stringify({ i })), {
        messageId: String(i), headers: { hpcm_path: `p/${i % 97}` },
      }).then(() => { confirmed++; inFlight.delete(p); });
      inFlight.add(p);
      if (inFlight.size >= 500) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await restarted;
    expect(confirmed).toBe(N);

    const deadline = Date.now() + 120_000;
    while (seen.size < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const missing = Array.from({ length: N }, (_, i) => String(i)).filter((id) => !seen.has(id));
    expect(missing).toEqual([]);
    expect(seen.size).toBe(N);
    const redelivered = [...seen.values()].filter((n) => n > 1).length;
    console.log(`broker restart: ${N} confirmed, ${seen.size} distinct consumed, ${redelivered} seen more than once (deduplicated by id)`);

    await consumer.stop();
    await publisher.close();
    await pubConn.close();
    await subConn.close();
  }, 420_000);
});
