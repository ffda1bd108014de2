import type { FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SFTPWrapper } from 'ssh2';
import { RemoteHelperClient } from '../../remote-helper/client.js';
import { throwIfAborted } from '../abort.js';
import { BandwidthLimiter } from '../bandwidth-limiter.js';
import { TransportError, showPath } from '../errors.js';
import { Lifecycle } from '../lifecycle.js';
import { checkSourcePath } from '../paths.js';
import { pipelinedCopy, type RangeReader } from '../pipelined-copy.js';
import { StallWatchdog } from '../stall-watchdog.js';
import { createTempFile, discardTempFile, tempFilePath } from '../temp-file.js';
import {
  silentLogger,
  type ChecksumAlgorithm,
  type FetchDestination,
  type FetchOptions,
  type FetchResult,
  type ListEntry,
  type SourceStat,
  type Transport,
  type TransportFeatures,
  type TransportLogger,
} from '../transport.js';
import { isUtf8Path, sftpList, sftpLstat, sftpReadlink } from './sftp-fallback.js';
import { sftpError } from './sftp-errors.js';
import { SftpPool } from './sftp-pool.js';
import { SshConnection } from './ssh-connection.js';
import { openSshHelperChannel } from './ssh-helper-channel.js';
import { resolveSshTarget, type SshEndpointOptions } from './ssh-target.js';

export interface SftpTransportConfig extends SshEndpointOptions {
  /** Persistent ssh connections (default 2). */
  connections?: number;
  /** SFTP channels per connection (default 2). */
  channelsPerConnection?: number;
  /** Command that starts the metadata helper on the source host (default `hpcmirror helper`); null: SFTP stat only. */
  helperCommand?: string | null;
  /** Fail start() when the helper cannot run, instead of falling back to SFTP stat (default false). */
  requireHelper?: boolean;
  /**
   * Bytes per SFTP read request (default 255 KiB: OpenSSH's sftp-server answers up to that much per
   * read; a server that answers less gives short reads, which are followed by a read of the rest).
   */
  chunkSize?: number;
  /** Read requests in flight per fetch (default 16: a 4 MiB window). */
  readConcurrency?: number;
  /** A request making no progress for this long fails and drops its connection (default 30 s). */
  opTimeoutMs?: number;
  logger?: TransportLogger;
}

const HELPER_READ_CHUNK = 1024 * 1024;
const HELPER_READ_CONCURRENCY = 4;
/** A helper that failed to start is tried again after this, doubling up to the max. */
const HELPER_RETRY_MIN_MS = 5_000;
/**
 * The helper is a Node process started over ssh: on a loaded source host its greeting can take well
 * over the ssh connect timeout, and falling back then costs fidelity (whole-second times, no inodes,
 * so split hard-link groups) for what is applied meanwhile. A missing helper fails at once (exit 127,
 * channel closed), so only a hung one waits this long. Below the subscriber's 60 s start limit.
 */
const HELPER_GREETING_TIMEOUT_MS = 40_000;
const HELPER_RETRY_MAX_MS = 120_000;
/** How long a failed fetch waits for its reads in flight before closing the temp file. */
const STRAGGLER_WAIT_MS = 2000;

/** Content over a small pool of SFTP channels; metadata from the remote helper on the same connections. */
export function createSftpTransport(config: SftpTransportConfig): Transport {
  return new SftpTransport(config);
}

class SftpTransport implements Transport {
  readonly name = 'sftp' as const;
  readonly #config: Required<Omit<SftpTransportConfig, 'passphrase' | 'logger'>> & { passphrase?: string };
  readonly #logger: TransportLogger;
  readonly #life = new Lifecycle('sftp');
  readonly #label: string;
  #pool: SftpPool | undefined;
  #helper: RemoteHelperClient | undefined;
  /** Set while on the SFTP stat fallback after a failed helper start: when to try again. */
  #helperRetry: { at: number; delayMs: number; client?: RemoteHelperClient | undefined } | undefined;

  constructor(config: SftpTransportConfig) {
    this.#config = {
      port: 22,
      connections: 2,
      channelsPerConnection: 2,
      helperCommand: 'hpcmirror helper',
      requireHelper: false,
      // Quiet machine, 100 MB files (bench/subscriber.mjs): 64 KiB x 32 gave 206 MB/s, 255 KiB x 16
      // 290 MB/s, against 400 MB/s for OpenSSH's sftp client; fewer, larger packets cost less CPU.
      chunkSize: 255 * 1024,
      readConcurrency: 16,
      connectTimeoutMs: 15_000,
      opTimeoutMs: 30_000,
      keepaliveIntervalMs: 10_000,
      ...config,
    };
    this.#logger = config.logger ?? silentLogger;
    this.#label = `${this.#config.user}@${this.#config.host}:${this.#config.port}`;
  }

  get features(): TransportFeatures {
    const helper = this.#helper !== undefined;
    return { nsTimes: helper, inodes: helper, batchStat: helper, serverSideHash: helper, fetchMany: false };
  }

  async start(): Promise<void> {
    await this.#life.start(async () => {
      const c = this.#config;
      const target = await resolveSshTarget(c);
      const pool = new SftpPool({
        connections: c.connections,
        channelsPerConnection: c.channelsPerConnection,
        channelTimeoutMs: c.opTimeoutMs,
        logger: this.#logger,
        connect: () => SshConnection.connect(target),
      });
      await pool.open();
      this.#pool = pool;
      this.#helper = undefined;
      this.#helperRetry = undefined;
      if (c.helperCommand !== null) {
        const helper = this.#newHelper(pool, c.helperCommand);
        try {
          await helper.start();
          this.#helper = helper;
        } catch (err) {
          await helper.stop();
          if (c.requireHelper) {
            await pool.close();
            throw err;
          }
          this.#logger.warn(
            { code: (err as TransportError).code, err: (err as Error).message },
            'remote helper unavailable: falling back to SFTP stat (whole seconds, no inodes) and trying again later',
          );
          this.#helperRetry = { at: Date.now() + HELPER_RETRY_MIN_MS, delayMs: HELPER_RETRY_MIN_MS };
        }
      }
    });
  }

  #newHelper(pool: SftpPool, command: string): RemoteHelperClient {
    return new RemoteHelperClient({
      label: `helper on ${this.#label}`,
      openChannel: async () => openSshHelperChannel(await pool.connection(), command, this.#config.opTimeoutMs),
      startTimeoutMs: Math.max(this.#config.connectTimeoutMs, HELPER_GREETING_TIMEOUT_MS),
      inactivityTimeoutMs: this.#config.opTimeoutMs,
      logger: this.#logger,
    });
  }

  /**
   * The helper, or undefined while the SFTP stat fallback is in use. A helper that did not start (a
   * slow or busy source host) is tried again now and then in the background, so a passing overload
   * does not leave the transport on whole-second times and no inodes for the rest of its life.
   */
  #currentHelper(): RemoteHelperClient | undefined {
    if (this.#helper) return this.#helper;
    const retry = this.#helperRetry;
    const pool = this.#pool;
    const command = this.#config.helperCommand;
    if (!retry || retry.client || Date.now() < retry.at || !pool || command === null) return undefined;
    const client = this.#newHelper(pool, command);
    retry.client = client;
    client.start().then(
      () => {
        if (this.#helperRetry !== retry || this.#pool !== pool) { void client.stop(); return; }
        this.#helper = client;
        this.#helperRetry = undefined;
        this.#logger.info({}, 'remote helper available again: nanosecond times and inodes from the source');
      },
      () => {
        void client.stop();
        retry.client = undefined;
        retry.delayMs = Math.min(retry.delayMs * 2, HELPER_RETRY_MAX_MS);
        retry.at = Date.now() + retry.delayMs;
      },
    );
    return undefined;
  }

  async stop(): Promise<void> {
    await this.#life.stop(async () => {
      const retrying = this.#helperRetry?.client;
      this.#helperRetry = undefined;
      await Promise.all([this.#helper?.stop(), retrying?.stop()]);
      await this.#pool?.close();
      this.#pool = undefined;
    });
  }

  async stat(paths: Buffer[]): Promise<(SourceStat | null)[]> {
    this.#life.assertRunning();
    paths.forEach(checkSourcePath);
    const helper = this.#currentHelper();
    if (helper) return helper.stat(paths);
    return this.#withSftp((sftp) => Promise.all(paths.map((p) => sftpLstat(sftp, p))));
  }

  async readlink(path: Buffer): Promise<Buffer> {
    this.#life.assertRunning();
    checkSourcePath(path);
    const helper = this.#currentHelper();
    if (helper) return helper.readlink(path);
    return this.#withSftp(async (sftp) => {
      const st = await sftpLstat(sftp, path);
      if (!st) throw new TransportError('HPM_TRANSPORT_SOURCE_GONE', `readlink ${showPath(path)}: source is gone`, { path });
      if (st.type !== 'symlink') throw new TransportError('HPM_TRANSPORT_NOT_A_SYMLINK', `readlink ${showPath(path)}: not a symlink`, { path });
      return sftpReadlink(sftp, path);
    });
  }

  async list(dir: Buffer): Promise<ListEntry[] | null> {
    this.#life.assertRunning();
    checkSourcePath(dir);
    const helper = this.#currentHelper();
    if (helper) return helper.list(dir);
    return this.#withSftp((sftp) => sftpList(sftp, dir));
  }

  async checksum(path: Buffer, algo: ChecksumAlgorithm): Promise<string | null> {
    this.#life.assertRunning();
    checkSourcePath(path);
    if (!this.#helper) throw new TransportError('HPM_TRANSPORT_HELPER', `checksum needs the remote helper on ${this.#label}`);
    return this.#helper.checksum(path, algo);
  }

  async fetch(src: Buffer, dest: FetchDestination, opts: FetchOptions): Promise<FetchResult> {
    this.#life.assertRunning();
    checkSourcePath(src);
    const tmp = tempFilePath(dest);
    throwIfAborted(opts.signal, src);

    // Look before opening (SFTP open follows symlinks and blocks on a FIFO), unless the caller just did.
    const before = opts.expect?.type === 'file' ? opts.expect : (await this.#statForFetch(src))[0];
    if (!before) throw new TransportError('HPM_TRANSPORT_SOURCE_GONE', `fetch ${showPath(src)}: source is gone`, { path: src });
    if (before.type !== 'file') {
      throw new TransportError('HPM_TRANSPORT_NOT_A_FILE', `fetch ${showPath(src)}: source is a ${before.type}`, { path: src });
    }

    const target = await createTempFile(tmp);
    let bytes: number;
    let after: SourceStat | null | undefined;
    let finished = false;
    try {
      try {
        bytes = await this.#copy(src, tmp, target, before.size, opts);
        // The post-copy look first: a copy of a source that moved meanwhile is not worth finishing.
        [after] = await this.#statForFetch(src);
        if (after && after.type !== 'file') {
          throw new TransportError('HPM_TRANSPORT_NOT_A_FILE', `fetch ${showPath(src)}: source is now a ${after.type}`, { path: src });
        }
        if (opts.finish) finished = await opts.finish(target.fd, after ?? null);
        if (opts.fsync) await target.sync();
      } finally {
        await target.close();
      }
      return { bytes, stat: after ?? null, finished };
    } catch (err) {
      await discardTempFile(tmp).catch(() => undefined);
      throw await this.#explainFailure(src, err);
    }
  }

  async #statForFetch(src: Buffer): Promise<(SourceStat | null)[]> {
    const helper = this.#currentHelper();
    if (helper) return helper.stat([src]);
    return this.#withSftp(async (sftp) => [await sftpLstat(sftp, src)]);
  }

  /** A copy that failed on the source side may have met a path replaced meanwhile: say what is there now. */
  async #explainFailure(src: Buffer, err: unknown): Promise<unknown> {
    if (!(err instanceof TransportError)) return err;
    if (err.code !== 'HPM_TRANSPORT_SOURCE_GONE' && err.code !== 'HPM_TRANSPORT_REMOTE_IO' && err.code !== 'HPM_TRANSPORT_SOURCE_ACCESS') {
      return err;
    }
    const [now] = await this.#statForFetch(src).catch(() => [undefined]);
    if (now === null) {
      return err.code === 'HPM_TRANSPORT_SOURCE_GONE'
        ? err
        : new TransportError('HPM_TRANSPORT_SOURCE_GONE', `fetch ${showPath(src)}: source is gone`, { path: src, cause: err });
    }
    if (now && now.type !== 'file') {
      return new TransportError('HPM_TRANSPORT_NOT_A_FILE', `fetch ${showPath(src)}: source is now a ${now.type}`, { path: src, cause: err });
    }
    return err;
  }

  async #copy(src: Buffer, tmp: Buffer, target: FileHandle, sizeHint: number, opts: FetchOptions): Promise<number> {
    const limiter = opts.bwlimitBytesPerSec ? new BandwidthLimiter(opts.bwlimitBytesPerSec) : undefined;
    const common = { target, targetPath: tmp, sizeHint, ...(limiter ? { limiter } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
    if (!isUtf8Path(src)) {
      // ssh2 can only send text paths over SFTP: names that are not UTF-8 come through the helper.
      const helper = this.#helper;
      if (!helper) throw new TransportError('HPM_TRANSPORT_BAD_PATH', `fetch ${showPath(src)}: not UTF-8; needs the remote helper`, { path: src });
      return pipelinedCopy({
        ...common,
        read: (offset, length) => helper.read(src, offset, length),
        chunkSize: HELPER_READ_CHUNK,
        concurrency: HELPER_READ_CONCURRENCY,
      });
    }
    const pool = this.#requirePool();
    const lease = await pool.acquire();
    const { sftp, connection } = lease;
    let handle: Buffer | undefined;
    const watchdog = new StallWatchdog(this.#config.opTimeoutMs, () => connection.destroy());
    // If the connection goes, whatever ssh2 still owes us will never come: fail at once.
    let forgetLost = (): void => undefined;
    const lost = new Promise<never>((_, reject) => {
      forgetLost = connection.onClose(() =>
        reject(new TransportError('HPM_TRANSPORT_CONNECTION', `fetch ${showPath(src)}: connection to ${this.#label} lost`, { path: src })));
    });
    lost.catch(() => undefined);
    let copying: Promise<number> | undefined;
    try {
      handle = await watchdog.watch(
        new Promise<Buffer>((resolve, reject) => {
          sftp.open(src.toString('utf8'), 'r', (err, h) => (err ? reject(sftpError(err, src, 'open', connection.alive)) : resolve(h)));
        }),
        lost,
      );
      const openHandle = handle;
      const { chunkSize } = this.#config;
      // Buffers come back once written: a large file costs a window's worth of them, not one per read,
      // which kept the garbage collector busy (ssh2 copies each answer into the buffer given).
      const spare: Buffer[] = [];
      const read: RangeReader = (offset, length) =>
        new Promise<Buffer>((resolve, reject) => {
          const buf = length <= chunkSize ? (spare.pop() ?? Buffer.allocUnsafe(chunkSize)) : Buffer.allocUnsafe(length);
          sftp.read(openHandle, buf, 0, length, offset, (err, bytesRead) =>
            err ? reject(sftpError(err, src, 'read', connection.alive)) : resolve(buf.subarray(0, bytesRead)),
          );
        });
      copying = pipelinedCopy({
        ...common,
        read,
        chunkSize,
        concurrency: this.#config.readConcurrency,
        onProgress: () => watchdog.progress(),
        release: (data) => {
          if (data.buffer.byteLength - data.byteOffset >= chunkSize) spare.push(Buffer.from(data.buffer, data.byteOffset, chunkSize));
        },
      });
      return await watchdog.watch(copying, lost);
    } catch (err) {
      // Reads still in flight write into the target: let them settle before the caller closes it.
      if (copying) await Promise.race([copying.catch(() => undefined), sleep(STRAGGLER_WAIT_MS)]);
      if (watchdog.fired) {
        throw new TransportError('HPM_TRANSPORT_TIMEOUT', `fetch ${showPath(src)}: no progress for ${this.#config.opTimeoutMs} ms`, {
          cause: err,
          path: src,
        });
      }
      throw err instanceof TransportError ? err : sftpError(err, src, 'fetch', connection.alive);
    } finally {
      forgetLost();
      watchdog.stop();
      if (handle && connection.alive) sftp.close(handle, () => undefined);
      lease.release();
    }
  }

  #requirePool(): SftpPool {
    const pool = this.#pool;
    if (!pool) throw new TransportError('HPM_TRANSPORT_STOPPED', `sftp transport to ${this.#label} is stopped`);
    return pool;
  }

  async #withSftp<T>(work: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const lease = await this.#requirePool().acquire();
    try {
      return await work(lease.sftp);
    } finally {
      lease.release();
    }
  }
}
