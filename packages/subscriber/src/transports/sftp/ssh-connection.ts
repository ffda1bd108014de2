import { Socket } from 'node:net';
import { Client, type ClientChannel, type SFTPWrapper } from 'ssh2';
import { TransportError } from '../errors.js';
import { coalesceWrites } from './coalescing-socket.js';
import { hostKeyAlgorithms, isHostKeyAccepted, type HostKeyPolicy } from './known-hosts.js';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey: Buffer;
  passphrase?: string;
  hostKeys: HostKeyPolicy;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** `user@host:port`, for messages. */
  label: string;
}

/** One authenticated ssh2 connection whose host key was checked against known_hosts. */
export class SshConnection {
  readonly label: string;
  /** Resolves when the connection is gone, whoever closed it. */
  readonly closed: Promise<void>;
  readonly #client: Client;
  readonly #onClose = new Set<() => void>();
  #alive = true;
  #gone = false;

  private constructor(client: Client, label: string) {
    this.#client = client;
    this.label = label;
    this.closed = new Promise<void>((resolve) => {
      client.once('close', () => {
        this.#alive = false;
        this.#gone = true;
        resolve();
        for (const listener of this.#onClose) listener();
        this.#onClose.clear();
      });
    });
    // After 'ready', errors are followed by 'close'; what was in flight fails on its own.
    client.on('error', () => {
      this.#alive = false;
    });
  }

  static async connect(target: SshTarget): Promise<SshConnection> {
    const client = new Client();
    let hostKeyRefused = false;
    return new Promise<SshConnection>((resolve, reject) => {
      const fail = (err: TransportError): void => {
        client.removeAllListeners('ready');
        client.on('error', () => undefined);
        client.destroy();
        reject(err);
      };
      client.once('ready', () => {
        client.removeAllListeners('error');
        resolve(new SshConnection(client, target.label));
      });
      client.once('error', (err: Error & { level?: string }) => {
        if (hostKeyRefused) {
          fail(new TransportError('HPM_TRANSPORT_HOSTKEY', `${target.label}: host key does not match known_hosts: refusing to connect`, { cause: err }));
        } else if (err.level === 'client-authentication') {
          fail(new TransportError('HPM_TRANSPORT_AUTH', `${target.label}: our key was refused`, { cause: err }));
        } else if (err.level === 'client-timeout') {
          fail(new TransportError('HPM_TRANSPORT_TIMEOUT', `${target.label}: no ssh handshake within ${target.connectTimeoutMs} ms`, { cause: err }));
        } else {
          fail(new TransportError('HPM_TRANSPORT_CONNECTION', `${target.label}: cannot connect: ${err.message}`, { cause: err }));
        }
      });
      client.once('close', () => fail(new TransportError('HPM_TRANSPORT_CONNECTION', `${target.label}: closed during the handshake`)));
      // Our own socket (connected here, so ssh2 does not connect one) to batch its small writes.
      const sock = new Socket();
      sock.connect({ host: target.host, port: target.port });
      coalesceWrites(sock);
      const config = {
        sock,
        host: target.host,
        port: target.port,
        username: target.user,
        privateKey: target.privateKey,
        readyTimeout: target.connectTimeoutMs,
        keepaliveInterval: target.keepaliveIntervalMs,
        keepaliveCountMax: 3,
        tryKeyboard: false,
        hostVerifier: (key: Buffer): boolean => {
          const ok = isHostKeyAccepted(target.hostKeys, key);
          if (!ok) hostKeyRefused = true;
          return ok;
        },
        algorithms: { serverHostKey: hostKeyAlgorithms(target.hostKeys) },
        ...(target.passphrase !== undefined ? { passphrase: target.passphrase } : {}),
      };
      try {
        client.connect(config as Parameters<Client['connect']>[0]);
      } catch (err) {
        fail(new TransportError('HPM_TRANSPORT_CONFIG', `${target.label}: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  get alive(): boolean {
    return this.#alive;
  }

  /**
   * Calls `listener` once when the connection is gone (at once if it already is); returns the way to
   * take it back. For work that lasts less than the connection: a reaction on `closed` would stay
   * attached, with everything it refers to, until the connection ends.
   */
  onClose(listener: () => void): () => void {
    if (this.#gone) {
      queueMicrotask(listener);
      return () => undefined;
    }
    this.#onClose.add(listener);
    return () => this.#onClose.delete(listener);
  }

  async openSftp(timeoutMs: number): Promise<SFTPWrapper> {
    return this.#withTimeout('open an SFTP channel', timeoutMs, (done) => this.#client.sftp(done));
  }

  async exec(command: string, timeoutMs: number): Promise<ClientChannel> {
    return this.#withTimeout('open an exec channel', timeoutMs, (done) => this.#client.exec(command, done));
  }

  /** Polite close; the socket is destroyed if the server does not answer in time. */
  end(graceMs = 2000): void {
    if (!this.#alive) return;
    this.#client.end();
    const timer = setTimeout(() => this.#client.destroy(), graceMs);
    timer.unref();
    void this.closed.then(() => clearTimeout(timer));
  }

  /** Drop the connection now: everything in flight on it fails. */
  destroy(): void {
    this.#alive = false;
    this.#client.destroy();
  }

  #withTimeout<T>(what: string, timeoutMs: number, start: (done: (err: Error | undefined, value: T) => void) => void): Promise<T> {
    if (!this.#alive) return Promise.reject(new TransportError('HPM_TRANSPORT_CONNECTION', `${this.label}: connection is closed`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.destroy();
        reject(new TransportError('HPM_TRANSPORT_TIMEOUT', `${this.label}: could not ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      try {
        start((err, value) => {
          clearTimeout(timer);
          if (err) reject(new TransportError('HPM_TRANSPORT_CONNECTION', `${this.label}: could not ${what}: ${err.message}`, { cause: err }));
          else resolve(value);
        });
      } catch (err) {
        clearTimeout(timer);
        reject(new TransportError('HPM_TRANSPORT_CONNECTION', `${this.label}: could not ${what}: ${(err as Error).message}`, { cause: err }));
      }
    });
  }
}
