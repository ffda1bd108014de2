import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { ATTEMPTS_HEADER, LAST_ERROR_HEADER, PARKED_AT_HEADER, REJECT_HEADER } from '../message/body.js';
import type { BrokerConnection } from './connection.js';
import { AckBatcher } from './ack-batcher.js';
import { Publisher } from './publisher.js';
import { declareStage, stageNames, type StageSpec } from './topology.js';

/** One received message and the ways to finish with it. Exactly one of them should be called. */
export interface Delivery {
  readonly queue: string;
  readonly content: Buffer;
  readonly headers: Record<string, unknown>;
  readonly messageId: string | undefined;
  readonly routingKey: string;
  readonly redelivered: boolean;
  /** Times this message went through a retry queue. */
  readonly attempts: number;
  ack(): void;
  /** Back to the broker for immediate redelivery (used on shutdown for held messages). */
  requeue(): void;
  /** Into the next backoff level's retry queue (or parked after the last attempt). */
  retry(reason: string): Promise<void>;
  /** Into the parking queue, with the reason in the `hpcm_reject` header. */
  park(reason: string): Promise<void>;
}

export interface StageConsumerOptions {
  stage: StageSpec;
  /** Shard indexes this process consumes (default: all). */
  shards?: number[];
  prefetch: number;
  maxAttempts: number;
  logger: Logger;
  /** Declarations beyond the stage's own, re-run on every new channel. */
  setup?: (ch: Channel) => Promise<void>;
  onMessage: (d: Delivery) => void | Promise<void>;
}

/**
 * Consumes a stage's shard queues with a bounded prefetch. Acks go to the channel that delivered
 * the message: after a reconnect the old channel is gone, the ack is dropped, and the broker
 * redelivers the message (at-least-once; the handlers are idempotent).
 */
export class StageConsumer {
  readonly #opts: StageConsumerOptions;
  readonly #conn: BrokerConnection;
  readonly #names;
  #channel: ChannelWrapper | undefined;
  #publisher: Publisher | undefined;
  /** Acks of the current channel (each channel has its own delivery tags). */
  #acks: AckBatcher | undefined;

  constructor(conn: BrokerConnection, opts: StageConsumerOptions) {
    this.#conn = conn;
    this.#opts = opts;
    this.#names = stageNames(opts.stage);
  }

  get names() {
    return this.#names;
  }

  async start(): Promise<void> {
    if (this.#channel) return;
    const { stage, setup } = this.#opts;
    this.#publisher = new Publisher(this.#conn, { setup: async (ch) => { await declareStage(ch, stage); } });
    this.#channel = this.#conn.manager.createChannel({
      confirm: false,
      setup: async (ch: Channel) => {
        this.#acks = new AckBatcher(ch);
        await declareStage(ch, stage);
        if (setup) await setup(ch);
      },
    });
    this.#channel.on('error', (err: Error) => this.#opts.logger.warn({ err: err.message }, 'consumer channel error'));
    const shards = this.#opts.shards ?? this.#names.shardQueues.map((_, i) => i);
    for (const i of shards) {
      const queue = this.#names.shardQueues[i]!;
      await this.#channel.consume(queue, (msg) => this.#deliver(queue, msg), { prefetch: this.#opts.prefetch, noAck: false });
    }
    await this.#channel.waitForConnect();
  }

  #deliver(queue: string, msg: ConsumeMessage): void {
    const acks = this.#acks!;
    acks.delivered(msg);
    const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
    const attempts = Number(headers[ATTEMPTS_HEADER] ?? 0) || 0;
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      try { fn(); } catch { /* channel closed: the broker redelivers */ }
    };
    const republish = async (routing: string, extra: Record<string, unknown>): Promise<void> => {
      await this.#publisher!.publish('', routing, msg.content, {
        headers: { ...headers, ...extra },
        ...(msg.properties.messageId && { messageId: msg.properties.messageId }),
      });
    };
    const delivery: Delivery = {
      queue,
      content: msg.content,
      headers,
      messageId: msg.properties.messageId as string | undefined,
      routingKey: msg.fields.routingKey,
      redelivered: msg.fields.redelivered,
      attempts,
      ack: () => finish(() => acks.ack(msg)),
      requeue: () => finish(() => acks.settleNow(msg, (ch) => ch.nack(msg, false, true))),
      park: async (reason: string) => {
        if (done) return;
        await republish(this.#names.parkingQueue, { [REJECT_HEADER]: reason, [PARKED_AT_HEADER]: new Date().toISOString() });
        finish(() => acks.ack(msg));
      },
      retry: async (reason: string) => {
        if (done) return;
        const next = attempts + 1;
        if (next >= this.#opts.maxAttempts) {
          await delivery.park(`gave up after ${next} attempts: ${reason}`);
          return;
        }
        const level = Math.min(attempts, this.#names.retryQueues.length - 1);
        await republish(this.#names.retryQueues[level]!, { [ATTEMPTS_HEADER]: next, [LAST_ERROR_HEADER]: reason });
        finish(() => acks.ack(msg));
      },
    };
    Promise.resolve()
      .then(() => this.#opts.onMessage(delivery))
      .catch((err: Error) => {
        this.#opts.logger.error({ err: err.message, queue }, 'message handler failed; message will be retried');
        void delivery.retry(err.message).catch(() => finish(() => acks.settleNow(msg, (ch) => ch.nack(msg, false, true))));
      });
  }

  async stop(): Promise<void> {
    const ch = this.#channel;
    this.#channel = undefined;
    try { this.#acks?.flush(); } catch { /* channel closed: the broker redelivers */ }
    await ch?.close();
    await this.#publisher?.close();
  }
}
