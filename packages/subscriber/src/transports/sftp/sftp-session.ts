import type { SFTPWrapper, Stats } from 'ssh2';
import { TransportError } from '../errors.js';
import type { SourceStat } from '../transport.js';
import { sftpLstat, sftpPathText } from './sftp-fallback.js';
import { sftpError } from './sftp-errors.js';
import { SshConnection } from './ssh-connection.js';
import { resolveSshTarget, type SshEndpointOptions } from './ssh-target.js';

export type SftpSessionConfig = SshEndpointOptions & {
  /** A request unanswered for this long fails and drops the connection (default 30 s). */
  opTimeoutMs?: number;
  /** Behave as if the server did not offer these extensions (to exercise the fallbacks). */
  withoutExtensions?: string[];
};

/** SFTP extensions a session may use when the server offers them. */
export type SftpExtension = 'hardlink@openssh.com' | 'copy-data' | 'fsync@openssh.com';

const COPY_CHUNK = 256 * 1024;
/** A server-side copy slower than this (10 MB/s) is taken for a hung one. */
const SLOWEST_COPY_BYTES_PER_MS = 10_000;

/** SFTP status: the server knows no such request. */
const OP_UNSUPPORTED = 8;

/**
 * One ssh connection with one SFTP channel, for the few writes made on a remote tree (failback's
 * writes on the primary): promise-based requests on byte paths, each time-boxed, errors mapped as
 * the transport maps them. Connects with the same known_hosts check and key as the sftp transport.
 */
export class SftpSession {
  readonly label: string;
  readonly #connection: SshConnection;
  readonly #sftp: SFTPWrapper;
  readonly #opTimeoutMs: number;
  readonly #without: Set<string>;

  private constructor(connection: SshConnection, sftp: SFTPWrapper, opTimeoutMs: number, without: string[]) {
    this.label = connection.label;
    this.#connection = connection;
    this.#sftp = sftp;
    this.#opTimeoutMs = opTimeoutMs;
    this.#without = new Set(without);
  }

  static async open(config: SftpSessionConfig): Promise<SftpSession> {
    const opTimeoutMs = config.opTimeoutMs ?? 30_000;
    const target = await resolveSshTarget({
      connectTimeoutMs: 15_000, keepaliveIntervalMs: 10_000, ...config, port: config.port ?? 22,
    });
    const connection = await SshConnection.connect(target);
    try {
      return new SftpSession(connection, await connection.openSftp(opTimeoutMs), opTimeoutMs, config.withoutExtensions ?? []);
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  /** Null when the path does not exist; never follows a final symlink. */
  lstat(path: Buffer): Promise<SourceStat | null> {
    return this.#timeBoxed('lstat', path, this.#opTimeoutMs, () => sftpLstat(this.#sftp, path));
  }

  /** Creates an empty file that must not exist yet. */
  async createExclusive(path: Buffer, mode: number): Promise<void> {
    const handle = await this.#request<Buffer>('create', path, (cb) => this.#sftp.open(sftpPathText(path), 'wx', { mode }, cb));
    await this.#close(handle, path);
  }

  unlink(path: Buffer): Promise<void> {
    return this.#request('unlink', path, (cb) => this.#sftp.unlink(sftpPathText(path), cb));
  }

  rmdir(path: Buffer): Promise<void> {
    return this.#request('rmdir', path, (cb) => this.#sftp.rmdir(sftpPathText(path), cb));
  }

  /** The plain SFTP rename: fails rather than replace an existing name. */
  rename(from: Buffer, to: Buffer): Promise<void> {
    return this.#request('rename', from, (cb) => this.#sftp.rename(sftpPathText(from), sftpPathText(to), cb));
  }

  /** A hard link (`hardlink@openssh.com`; link(2) does not follow a symlink); false when the server lacks the extension. */
  async hardlink(existing: Buffer, link: Buffer): Promise<boolean> {
    const [from, to] = [sftpPathText(existing), sftpPathText(link)];
    return this.#extension('hardlink@openssh.com', 'hardlink', existing, (cb) => this.#sftp.ext_openssh_hardlink(from, to, cb));
  }

  /**
   * Copies the file `src` to `dst` (created exclusively, with the source's mode and times, synced):
   * on the server with `copy-data` when offered ('server'), else by reading and writing through this
   * connection ('client').
   */
  async copy(src: Buffer, dst: Buffer): Promise<'server' | 'client'> {
    const from = await this.#request<Buffer>('open', src, (cb) => this.#sftp.open(sftpPathText(src), 'r', cb));
    try {
      const attrs = await this.#request<Stats>('fstat', src, (cb) => this.#sftp.fstat(from, cb));
      const to = await this.#request<Buffer>('create', dst, (cb) => this.#sftp.open(sftpPathText(dst), 'wx', { mode: 0o600 }, cb));
      let open = true;
      try {
        // A copy on the server answers once it is all done: the time box grows with the size.
        const copyTimeoutMs = this.#opTimeoutMs + Math.ceil(attrs.size / SLOWEST_COPY_BYTES_PER_MS);
        const onServer = await this.#extension('copy-data', 'copy', src, (cb) => this.#sftp.ext_copy_data(from, 0, 0, to, 0, cb), copyTimeoutMs);
        if (!onServer) await this.#copyThrough(from, to, src, dst);
        await this.#request('setstat', dst, (cb) => this.#sftp.fsetstat(to, { mode: attrs.mode & 0o7777, atime: attrs.atime, mtime: attrs.mtime }, cb));
        await this.#extension('fsync@openssh.com', 'fsync', dst, (cb) => this.#sftp.ext_openssh_fsync(to, cb), copyTimeoutMs);
        open = false;
        await this.#close(to, dst); // a failed close (a full disk on NFS) fails the copy
        return onServer ? 'server' : 'client';
      } finally {
        if (open) await this.#close(to, dst).catch(() => undefined);
      }
    } finally {
      await this.#close(from, src).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.#connection.end();
    await this.#connection.closed;
  }

  async #copyThrough(from: Buffer, to: Buffer, src: Buffer, dst: Buffer): Promise<void> {
    const buf = Buffer.allocUnsafe(COPY_CHUNK);
    for (let pos = 0; ;) {
      const n = await this.#request<number>('read', src, (cb) => this.#sftp.read(from, buf, 0, COPY_CHUNK, pos, (err, bytes) => cb(err, bytes)));
      if (n === 0) return;
      await this.#request('write', dst, (cb) => this.#sftp.write(to, buf, 0, n, pos, cb));
      pos += n;
    }
  }

  #close(handle: Buffer, path: Buffer): Promise<void> {
    return this.#request('close', path, (cb) => this.#sftp.close(handle, cb));
  }

  /** Whether the server announced the extension (ssh2 keeps the list without a public accessor; its ext_* methods read the same field). */
  offers(name: SftpExtension): boolean {
    if (this.#without.has(name)) return false;
    return (this.#sftp as unknown as { _extensions?: Record<string, string> })._extensions?.[name] === '1';
  }

  /** Runs an extended request; false (nothing done) when the server does not offer it. */
  async #extension(name: SftpExtension, what: string, path: Buffer, send: (cb: (err: Error | undefined | null) => void) => void, timeoutMs?: number): Promise<boolean> {
    if (!this.offers(name)) return false;
    try {
      await this.#request(what, path, send, timeoutMs);
      return true;
    } catch (err) {
      if ((err as TransportError).cause !== undefined && ((err as TransportError).cause as { code?: unknown }).code === OP_UNSUPPORTED) return false;
      throw err;
    }
  }

  #request<T = void>(what: string, path: Buffer, send: (cb: (err: Error | undefined | null, value?: T) => void) => void, timeoutMs = this.#opTimeoutMs): Promise<T> {
    return this.#timeBoxed(what, path, timeoutMs, () => new Promise<T>((resolve, reject) => {
      try {
        send((err, value) => (err ? reject(sftpError(err, path, what, this.#connection.alive)) : resolve(value as T)));
      } catch (err) {
        reject(new TransportError('HPM_TRANSPORT_CONNECTION', `${what}: ${(err as Error).message}`, { cause: err, path }));
      }
    }));
  }

  #timeBoxed<T>(what: string, path: Buffer, timeoutMs: number, run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#connection.destroy();
        reject(new TransportError('HPM_TRANSPORT_TIMEOUT', `${this.label}: ${what} unanswered within ${timeoutMs} ms`, { path }));
      }, timeoutMs);
    });
    return Promise.race([run(), late]).finally(() => clearTimeout(timer));
  }
}
