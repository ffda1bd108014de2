import amqplib from 'amqplib';
import { configSchema, type LoadedConfig } from '@hpcmirror/core';

export interface ReceivedMessage {
  routingKey: string;
  headers: Record<string, unknown>;
  body: Record<string, unknown>;
}

/** A durable queue bound to the flow's source exchange with `#`: sees every announcement. */
export async function bindTestQueue(url: string, exchange: string, queue: string): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, '#');
    await ch.close();
  } finally {
    await conn.close();
  }
}

/**
 * Takes messages off `queue` until `until` says enough or the time is up. A new connection each
 * call (and after an error), so it works across broker restarts.
 */
export async function drainQueue(url: string, queue: string, until: (all: ReceivedMessage[]) => boolean, timeoutMs = 45_000, into: ReceivedMessage[] = []): Promise<ReceivedMessage[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !until(into)) {
    try {
      const conn = await amqplib.connect(url);
      let broken = false;
      conn.on('error', () => { broken = true; });
      conn.on('close', () => { broken = true; });
      try {
        const ch = await conn.createChannel();
        await ch.prefetch(5000);
        await ch.consume(queue, (m) => {
          if (!m) return;
          into.push({ routingKey: m.fields.routingKey, headers: (m.properties.headers ?? {}) as Record<string, unknown>, body: JSON.parse(m.content.toString('utf8')) as Record<string, unknown> });
        }, { noAck: true });
        while (!broken && Date.now() < deadline && !until(into)) await new Promise((r) => setTimeout(r, 25));
      } finally {
        await conn.close().catch(() => undefined);
      }
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return into;
}

export async function publishJson(url: string, exchange: string, routingKey: string, body: unknown): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange(exchange, 'topic', { durable: true });
    ch.publish(exchange, routingKey, Buffer.from(JSON.stringify(body)), { persistent: true });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

export interface TestAgentConfigInput {
  flow: string;
  brokerUrl: string;
  sourceRoot: string;
  stateDir: string;
  spoolDir: string;
  agent?: Record<string, unknown>;
}

/** A config as loadConfig would return it (schema defaults applied). */
export function testAgentConfig(i: TestAgentConfigInput): LoadedConfig {
  const cfg = configSchema.parse({
    flow: i.flow,
    user: 'tester',
    broker: { url: i.brokerUrl, reconnect_s: 0.5, publish_timeout_ms: 5000 },
    source_root: i.sourceRoot,
    state_dir: i.stateDir,
    agent: { base_url: 'sftp://tester@hpc1/', spool_dir: i.spoolDir, host: 'hpc1', cluster: 'clusterA', segment_grace_s: 0, ...i.agent },
  });
  return { ...cfg, user: 'tester', exchange: `xs_tester_${i.flow}`, configFile: 'test.yaml' };
}

/** Waits until a queue exists (declared by the component under test). */
export async function waitForQueue(url: string, queue: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const conn = await amqplib.connect(url);
  try {
    for (;;) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        await ch.checkQueue(queue);
        await ch.close();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`queue ${queue} not declared within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** A live consumer on `queue` (no acks), for tests that must react to a message as it arrives. */
export async function consumeQueue(url: string, queue: string, onMessage: (m: ReceivedMessage) => void): Promise<{ close(): Promise<void> }> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  await ch.prefetch(5000);
  await ch.consume(queue, (m) => {
    if (!m) return;
    onMessage({ routingKey: m.fields.routingKey, headers: (m.properties.headers ?? {}) as Record<string, unknown>, body: JSON.parse(m.content.toString('utf8')) as Record<string, unknown> });
  }, { noAck: true });
  return { close: async () => { await conn.close().catch(() => undefined); } };
}
