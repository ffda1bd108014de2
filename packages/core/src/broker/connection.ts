import * as acm from 'amqp-connection-manager';
import type { AmqpConnectionManager } from 'amqp-connection-manager';
import type { Logger } from 'pino';
import { readFileSync } from 'node:fs';
import { HpcmError } from '../errors.js';
import { redactUrl } from '../config/credentials.js';

export interface BrokerOptions {
  url: string;
  logger: Logger;
  heartbeatS?: number;
  reconnectS?: number;
  /** Name shown in the broker's connection list. */
  connectionName?: string;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string };
}

/**
 * One AMQP connection that comes back by itself (amqp-connection-manager): channels made from it
 * re-run their setup (topology, consumers) after every reconnect.
 */
export class BrokerConnection {
  readonly manager: AmqpConnectionManager;
  readonly #log: Logger;
  #closed = false;
  #lastError: string | undefined;

  constructor(opts: BrokerOptions) {
    this.#log = opts.logger;
    const socketOptions: Record<string, unknown> = {
      clientProperties: { connection_name: opts.connectionName ?? 'hpcmirror' },
      timeout: 10_000,
    };
    if (opts.tls) {
      if (opts.tls.ca) socketOptions.ca = [readFileSync(opts.tls.ca)];
      if (opts.tls.cert) socketOptions.cert = readFileSync(opts.tls.cert);
      if (opts.tls.key) socketOptions.key = readFileSync(opts.tls.key);
      if (opts.tls.servername) socketOptions.servername = opts.tls.servername;
      socketOptions.rejectUnauthorized = true;
    }
    const url = new URL(opts.url);
    if (opts.heartbeatS !== undefined && !url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(opts.heartbeatS));
    this.manager = acm.connect([url.toString()], {
      reconnectTimeInSeconds: opts.reconnectS ?? 2,
      heartbeatIntervalInSeconds: opts.heartbeatS ?? 30,
      connectionOptions: socketOptions,
    });
    const shown = redactUrl(opts.url);
    this.manager.on('connect', () => this.#log.info({ broker: shown }, 'broker connected'));
    this.manager.on('disconnect', ({ err }) => {
      if (!this.#closed) this.#log.warn({ broker: shown, err: err?.message }, 'broker disconnected; reconnecting');
    });
    this.manager.on('connectFailed', ({ err }) => {
      this.#lastError = err?.message;
      this.#log.warn({ broker: shown, err: err?.message }, 'broker connection failed; retrying');
    });
  }

  get connected(): boolean {
    return this.manager.isConnected();
  }

  /** Resolves once connected, or throws HPM_BROKER_UNREACHABLE after timeoutMs. */
  async waitConnected(timeoutMs = 30_000): Promise<void> {
    if (this.manager.isConnected()) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => this.manager.once('connect', () => resolve())),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HpcmError('HPM_BROKER_UNREACHABLE',
            `broker not reachable within ${timeoutMs} ms${this.#lastError ? ` (last error: ${this.#lastError})` : ''}`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.manager.close();
  }
}
