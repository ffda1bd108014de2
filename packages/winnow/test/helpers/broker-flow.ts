/// <reference path="../../../../test/infra.d.ts" />
import { randomBytes } from 'node:crypto';
import * as amqp from 'amqplib';
import { parseConfig, type LoadedConfig, type WinnowConfig } from '@hpcmirror/core';
import { winnowSettings } from '../../src/winnow-settings.js';

export interface Forwarded {
  exchange: string;
  routingKey: string;
  headers: Record<string, unknown>;
  body: Record<string, any>;
}

/**
 * One private flow on the shared broker (unique names per test): a confirm channel to publish
 * announcements as the agent does, and queues that collect what the winnow forwards, the progress
 * reports and the parked messages.
 */
export class TestFlow {
  readonly flow = `wt${randomBytes(4).toString('hex')}`;
  readonly forwarded: Forwarded[] = [];
  readonly progress: Record<string, any>[] = [];
  #conn!: amqp.ChannelModel;
  #ch!: amqp.ConfirmChannel;

  constructor(readonly brokerUrl: string) {}

  config(winnow: Partial<WinnowConfig> = {}): LoadedConfig {
    const w = Object.entries(winnow).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n');
    return parseConfig(
      `flow: ${this.flow}\nuser: test\nbroker:\n  url: ${this.brokerUrl}\n  publish_timeout_ms: 10000\nsource_root: /fs/primary\nwinnow:\n${w || '  window_ms: 1000'}\n`,
      `${this.flow}.yaml`,
    );
  }

  get exchange(): string {
    return `xs_test_${this.flow}`;
  }

  async open(): Promise<void> {
    this.#conn = await amqp.connect(this.brokerUrl);
    this.#ch = await this.#conn.createConfirmChannel();
    const t = winnowSettings(this.config()).topology;
    for (const x of [this.exchange, t.small, t.large, `${this.exchange}.progress`]) await this.#ch.assertExchange(x, 'topic', { durable: true });
    const out = await this.#ch.assertQueue('', { exclusive: true });
    await this.#ch.bindQueue(out.queue, t.small, '#');
    await this.#ch.bindQueue(out.queue, t.large, '#');
    await this.#ch.consume(out.queue, (m) => {
      if (!m) return;
      this.forwarded.push({ exchange: m.fields.exchange, routingKey: m.fields.routingKey, headers: m.properties.headers ?? {}, body: JSON.parse(m.content.toString()) });
    }, { noAck: true });
    const prog = await this.#ch.assertQueue('', { exclusive: true });
    await this.#ch.bindQueue(prog.queue, `${this.exchange}.progress`, 'progress.#');
    await this.#ch.consume(prog.queue, (m) => m && this.progress.push(JSON.parse(m.content.toString())), { noAck: true });
  }

  /** Publishes bodies to the source exchange as the agent does (topic + hpcm_path header), with confirms. */
  async publish(bodies: Buffer[]): Promise<void> {
    for (const b of bodies) {
      let relPath = 'fs/primary/x';
      try {
        relPath = (JSON.parse(b.toString()) as { relPath?: string }).relPath ?? relPath;
      } catch {
        // a malformed body on purpose
      }
      const topic = `v03.${relPath.split('/').slice(0, -1).join('.')}`;
      this.#ch.publish(this.exchange, topic, b, { persistent: true, contentType: 'application/json', headers: { hpcm_path: relPath } });
    }
    await this.#ch.waitForConfirms();
  }

  async queueDepth(queue: string): Promise<number> {
    return (await this.#ch.checkQueue(queue)).messageCount;
  }

  async getAll(queue: string): Promise<amqp.GetMessage[]> {
    const out: amqp.GetMessage[] = [];
    for (;;) {
      const m = await this.#ch.get(queue, { noAck: true });
      if (m === false) return out;
      out.push(m);
    }
  }

  async close(): Promise<void> {
    const stage = winnowSettings(this.config()).stage;
    const names = [...Array.from({ length: 4 }, (_, i) => `${stage.name}.${i}`), `${stage.name}.parked`, ...[0, 1, 2, 3].map((i) => `${stage.name}.retry.${i}`)];
    for (const q of names) {
      // A missing queue closes the channel it was asked on: one channel per delete.
      const ch = await this.#conn.createChannel();
      ch.on('error', () => undefined);
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    await this.#conn.close().catch(() => undefined);
  }
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
