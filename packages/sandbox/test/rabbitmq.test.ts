import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachRabbitMQ, startRabbitMQ, type BrokerHandle } from '../src/rabbitmq.js';
import { isAlive } from '../src/process-control.js';
import { processesUsing } from '../src/proc-scan.js';

async function publishAndGet(url: string, exchangeType: string): Promise<string> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    const exchange = `probe_${exchangeType}`;
    await channel.assertExchange(exchange, exchangeType, { durable: true });
    const { queue } = await channel.assertQueue(`${exchange}_q`, { durable: true });
    await channel.bindQueue(queue, exchange, exchangeType === 'x-consistent-hash' ? '1' : '#');
    channel.publish(exchange, 'a.b', Buffer.from('hello'), { persistent: true });
    await channel.waitForConfirms();
    for (let i = 0; i < 50; i++) {
      const message = await channel.get(queue, { noAck: true });
      if (message !== false) return message.content.toString();
      await new Promise((r) => setTimeout(r, 20));
    }
    return '';
  } finally {
    await connection.close();
  }
}

// One node for the whole file, without management: exercises the rabbitmqctl-wait readiness path.
describe('startRabbitMQ', () => {
  let dir: string;
  let broker: BrokerHandle;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hpcm-rabbitmq-test-'));
    broker = await startRabbitMQ({ dir, management: false });
  });

  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves AMQP on loopback with the consistent-hash exchange type', async () => {
    expect(broker.url).toMatch(/^amqp:\/\/guest:guest@127\.0\.0\.1:\d+$/);
    expect(broker.mgmtUrl).toBeUndefined();
    expect(isAlive(broker.pid)).toBe(true);
    expect(await publishAndGet(broker.url, 'x-consistent-hash')).toBe('hello');
  });

  it('sets consumer_timeout above any copy', async () => {
    const value = await broker.ctl(['eval', 'application:get_env(rabbit, consumer_timeout).']);
    expect(value.trim()).toBe('{ok,86400000}');
  });

  it('returns the running node when started again on the same dir', async () => {
    const again = await startRabbitMQ({ dir, management: false });
    expect(again.pid).toBe(broker.pid);
    expect(again.url).toBe(broker.url);
  });

  it('restarts on the same port and keeps durable data', async () => {
    const url = broker.url;
    const connection = await amqp.connect(url);
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue('kept', { durable: true });
    channel.sendToQueue('kept', Buffer.from('survives'), { persistent: true });
    await channel.waitForConfirms();
    await connection.close();

    const oldPid = broker.pid;
    await broker.restart();
    expect(broker.url).toBe(url);
    expect(broker.pid).not.toBe(oldPid);
    expect(isAlive(oldPid)).toBe(false);

    const after = await amqp.connect(url);
    const afterChannel = await after.createChannel();
    const message = await afterChannel.get('kept', { noAck: true });
    await after.close();
    expect(message !== false && message.content.toString()).toBe('survives');
  });

  it('pause stops answering and resume brings it back', async () => {
    broker.pause();
    const stalled = await Promise.race([
      amqp.connect(broker.url).then(async (c) => {
        await c.close();
        return 'answered';
      }),
      new Promise((r) => setTimeout(() => r('stalled'), 1_500)),
    ]);
    broker.resume();
    expect(stalled).toBe('stalled');
    expect(await publishAndGet(broker.url, 'topic')).toBe('hello');
  });

  it('kill (from another handle) leaves no process behind', async () => {
    const state = broker.state;
    const other = attachRabbitMQ(dir);
    await other.kill();
    expect(state.processes).not.toBeNull();
    for (const record of Object.values(state.processes ?? {})) {
      expect(record).not.toBeNull();
      expect(isAlive(record?.pid ?? 0, record?.startTime)).toBe(false);
    }
    expect(processesUsing(dir)).toEqual([]);
    await other.stop();
    await expect(other.ctl(['status'])).rejects.toMatchObject({ code: 'HPM_SANDBOX_FAILED' });
  });
});
