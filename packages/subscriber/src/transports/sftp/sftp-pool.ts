import type { SFTPWrapper } from 'ssh2';
import { TransportError } from '../errors.js';
import type { TransportLogger } from '../transport.js';
import type { SshConnection } from './ssh-connection.js';

export interface SftpPoolConfig {
  connections: number;
  channelsPerConnection: number;
  connect: () => Promise<SshConnection>;
  channelTimeoutMs: number;
  logger: TransportLogger;
}

export interface SftpLease {
  readonly sftp: SFTPWrapper;
  readonly connection: SshConnection;
  release(): void;
}

interface Channel {
  sftp: SFTPWrapper;
  active: number;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

/** One ssh connection of the pool with its SFTP channels; reconnects on demand with backoff. */
class Slot {
  connection: SshConnection | undefined;
  channels: Channel[] = [];
  connecting: Promise<void> | undefined;
  lastError: TransportError | undefined;
  retryAt = 0;
  backoffMs = BACKOFF_MIN_MS;

  get live(): boolean {
    return this.connection?.alive === true && this.channels.length > 0;
  }
}

/**
 * A few persistent ssh connections, each with a few SFTP channels (each one an sftp-server on the
 * source host). Work goes to the least busy live channel; a dropped connection is re-established by
 * the next acquire (never in a loop of our own), with backoff after failures.
 */
export class SftpPool {
  readonly #config: SftpPoolConfig;
  readonly #slots: Slot[];
  #closed = false;

  constructor(config: SftpPoolConfig) {
    this.#config = config;
    this.#slots = Array.from({ length: Math.max(1, config.connections) }, () => new Slot());
  }

  /** Connect every slot; fails with the first error (host key, auth...) after closing what opened. */
  async open(): Promise<void> {
    this.#closed = false;
    try {
      await Promise.all(this.#slots.map((slot) => this.#connect(slot, true)));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** A live connection for exec channels (the helper), connecting one if needed. */
  async connection(): Promise<SshConnection> {
    const lease = await this.acquire();
    lease.release();
    return lease.connection;
  }

  async acquire(): Promise<SftpLease> {
    if (this.#closed) throw new TransportError('HPM_TRANSPORT_STOPPED', 'sftp pool is closed');
    for (const slot of this.#slots) {
      if (!slot.live && !slot.connecting && Date.now() >= slot.retryAt) void this.#connect(slot, false).catch(() => undefined);
    }
    let best: { slot: Slot; channel: Channel } | undefined;
    for (const slot of this.#slots) {
      if (!slot.live) continue;
      for (const channel of slot.channels) {
        if (!best || channel.active < best.channel.active) best = { slot, channel };
      }
    }
    if (!best) {
      const pending = this.#slots.map((s) => s.connecting).filter((p): p is Promise<void> => p !== undefined);
      if (pending.length === 0) {
        const last = this.#slots.find((s) => s.lastError)?.lastError;
        throw (
          last ?? new TransportError('HPM_TRANSPORT_CONNECTION', 'sftp: no live connection')
        );
      }
      await Promise.any(pending).catch(() => undefined);
      return this.acquire();
    }
    const { slot, channel } = best;
    channel.active++;
    let released = false;
    return {
      sftp: channel.sftp,
      connection: slot.connection as SshConnection,
      release: () => {
        if (released) return;
        released = true;
        channel.active--;
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((slot) => slot.connecting?.catch(() => undefined)));
    const closing: Promise<void>[] = [];
    for (const slot of this.#slots) {
      if (slot.connection) {
        slot.connection.end();
        closing.push(slot.connection.closed);
      }
      slot.connection = undefined;
      slot.channels = [];
      slot.retryAt = 0;
      slot.backoffMs = BACKOFF_MIN_MS;
    }
    await Promise.all(closing);
  }

  #connect(slot: Slot, rethrow: boolean): Promise<void> {
    slot.connecting ??= (async () => {
      try {
        slot.connection?.destroy();
        slot.connection = undefined;
        slot.channels = [];
        const connection = await this.#config.connect();
        const channels: Channel[] = [];
        try {
          for (let i = 0; i < Math.max(1, this.#config.channelsPerConnection); i++) {
            channels.push({ sftp: await connection.openSftp(this.#config.channelTimeoutMs), active: 0 });
          }
        } catch (err) {
          connection.destroy();
          throw err;
        }
        if (this.#closed) {
          connection.end();
          return;
        }
        slot.connection = connection;
        slot.channels = channels;
        slot.lastError = undefined;
        slot.backoffMs = BACKOFF_MIN_MS;
        void connection.closed.then(() => {
          if (slot.connection === connection) {
            slot.channels = [];
            this.#config.logger.warn({ code: 'HPM_TRANSPORT_CONNECTION', target: connection.label }, 'sftp connection closed');
          }
        });
      } catch (err) {
        slot.lastError =
          err instanceof TransportError
            ? err
            : new TransportError('HPM_TRANSPORT_CONNECTION', `sftp: ${(err as Error).message}`, { cause: err });
        slot.retryAt = Date.now() + slot.backoffMs;
        slot.backoffMs = Math.min(slot.backoffMs * 2, BACKOFF_MAX_MS);
        // open() throws it to its caller, who says it once; a reconnect on demand is said here.
        this.#config.logger[rethrow ? 'debug' : 'warn']({ code: slot.lastError.code, err: slot.lastError.message }, 'sftp connect failed');
        throw slot.lastError;
      } finally {
        slot.connecting = undefined;
      }
    })();
    const attempt = slot.connecting;
    return rethrow ? attempt : attempt.catch(() => undefined);
  }
}
