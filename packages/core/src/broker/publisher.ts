import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel, Options } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { HpcmError } from '../errors.js';
import type { BrokerConnection } from './connection.js';
import { releaseUnconfirmedOnClose } from './unconfirmed-release.js';

export interface PublishOptions {
  headers?: Record<string, unknown>;
  messageId?: string;
  /** Per-publish time box; default the publisher's. */
  timeoutMs?: number;
}

export interface PublisherOptions {
  /** Declarations to (re)run on every new channel. */
  setup?: (ch: ConfirmChannel) => Promise<void>;
  timeoutMs?: number;
}

/**
 * Publishes with confirms. `publish` resolves only once the broker has confirmed the message;
 * across a reconnect the message is sent again (at-least-once: consumers are idempotent), and
 * after `timeoutMs` without a confirm it rejects with HPM_BROKER_PUBLISH_TIMEOUT so the caller
 * keeps its durable copy (the spool, an unacked input) and tries later.
 */
export class Publisher {
  readonly #channel: ChannelWrapper;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(conn: BrokerConnection, opts: PublisherOptions = {}) {
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
    this.#channel = conn.manager.createChannel({
      confirm: true,
      json: false,
      setup: async (ch: ConfirmChannel) => {
        releaseUnconfirmedOnClose(ch);
        await opts.setup?.(ch);
      },
    });
    // Errors surface through publish() results; keep the emitter from throwing.
    this.#channel.on('error', () => undefined);
  }

  async waitReady(): Promise<void> {
    await this.#channel.waitForConnect();
  }

  async publish(exchange: string, routingKey: string, body: Buffer, opts: PublishOptions = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? this.#timeoutMs);
    const properties: Options.Publish = {
      persistent: true,
      contentType: 'application/json',
      ...(opts.headers && { headers: opts.headers }),
      ...(opts.messageId && { messageId: opts.messageId }),
    };
    let delay = 100;
    for (;;) {
      if (this.#closed) throw new HpcmError('HPM_BROKER_CLOSED', 'publisher is closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new HpcmError('HPM_BROKER_PUBLISH_TIMEOUT', `no confirm from the broker within ${opts.timeoutMs ?? this.#timeoutMs} ms (exchange ${exchange})`);
      try {
        await this.#channel.publish(exchange, routingKey, body, { ...properties, timeout: left });
        return;
      } catch (err) {
        // A nack or a channel that died under the message: send it again (duplicates are harmless).
        if (this.#closed) throw new HpcmError('HPM_BROKER_CLOSED', 'publisher is closed', { cause: err });
        if (/timeout/i.test((err as Error).message ?? '') && Date.now() >= deadline) {
          throw new HpcmError('HPM_BROKER_PUBLISH_TIMEOUT', `no confirm from the broker within ${opts.timeoutMs ?? this.#timeoutMs} ms (exchange ${exchange})`, { cause: err });
        }
        await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /** Messages queued in memory, not yet sent or confirmed. */
  get pending(): number {
    return this.#channel.queueLength();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#channel.close();
  }
}
