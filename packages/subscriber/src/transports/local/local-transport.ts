import { constants } from 'node:fs';
import { chmod, copyFile, lstat, type FileHandle } from 'node:fs/promises';
import { throwIfAborted } from '../abort.js';
import { BandwidthLimiter } from '../bandwidth-limiter.js';
import { TransportError, destError, errnoCode, showPath, sourceError } from '../errors.js';
import { Lifecycle } from '../lifecycle.js';
import { mapLimit } from '../map-limit.js';
import { checkSourcePath } from '../paths.js';
import {
  checksumSource,
  listSource,
  lstatSource,
  openRegularSource,
  readlinkSource,
} from '../source-fs.js';
import { createTempFile, discardTempFile, fsyncFile, tempFilePath } from '../temp-file.js';
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

export interface LocalTransportConfig {
  /** lstat calls in flight per stat() batch (default 32). */
  statConcurrency?: number;
  /** How long stop() waits for fetches in flight (default 10 s). */
  stopTimeoutMs?: number;
  logger?: TransportLogger;
}

const STREAM_CHUNK = 256 * 1024;

/** Source and destination on one host (or a shared mount): plain file system calls, reflink copies. */
export function createLocalTransport(config: LocalTransportConfig = {}): Transport {
  return new LocalTransport(config);
}

class LocalTransport implements Transport {
  readonly name = 'local' as const;
  readonly features: TransportFeatures = {
    nsTimes: true,
    inodes: true,
    batchStat: true,
    serverSideHash: true,
    fetchMany: false,
  };
  readonly #life = new Lifecycle('local');
  readonly #statConcurrency: number;
  readonly #stopTimeoutMs: number;
  readonly #logger: TransportLogger;
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(config: LocalTransportConfig) {
    this.#statConcurrency = config.statConcurrency ?? 32;
    this.#stopTimeoutMs = config.stopTimeoutMs ?? 10_000;
    this.#logger = config.logger ?? silentLogger;
  }

  async start(): Promise<void> {
    await this.#life.start(async () => {});
  }

  async stop(): Promise<void> {
    await this.#life.stop(async () => {
      // copy_file_range cannot be interrupted: give fetches in flight a bounded time to finish.
      const pending = Promise.allSettled([...this.#inFlight]);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.#stopTimeoutMs);
      });
      const outcome = await Promise.race([pending, timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.#logger.warn({ inFlight: this.#inFlight.size }, 'local transport stopped with fetches still running');
      }
    });
  }

  async stat(paths: Buffer[]): Promise<(SourceStat | null)[]> {
    this.#life.assertRunning();
    paths.forEach(checkSourcePath);
    return mapLimit(paths, this.#statConcurrency, async (path) => {
      try {
        return await lstatSource(path);
      } catch (err) {
        throw sourceError(errnoCode(err), path, 'lstat', err);
      }
    });
  }

  async readlink(path: Buffer): Promise<Buffer> {
    this.#life.assertRunning();
    checkSourcePath(path);
    try {
      return await readlinkSource(path);
    } catch (err) {
      if (errnoCode(err) === 'EINVAL') {
        throw new TransportError('HPM_TRANSPORT_NOT_A_SYMLINK', `readlink ${showPath(path)}: not a symlink`, { path });
      }
      throw sourceError(errnoCode(err), path, 'readlink', err);
    }
  }

  async list(dir: Buffer): Promise<ListEntry[] | null> {
    this.#life.assertRunning();
    checkSourcePath(dir);
    try {
      return await listSource(dir);
    } catch (err) {
      throw sourceError(errnoCode(err), dir, 'list', err);
    }
  }

  async checksum(path: Buffer, algo: ChecksumAlgorithm): Promise<string | null> {
    this.#life.assertRunning();
    checkSourcePath(path);
    try {
      return await checksumSource(path, algo);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw sourceError(code, path, 'checksum', err);
    }
  }

  async fetch(src: Buffer, dest: FetchDestination, opts: FetchOptions): Promise<FetchResult> {
    this.#life.assertRunning();
    checkSourcePath(src);
    const tmp = tempFilePath(dest);
    const work = this.#fetch(src, tmp, opts);
    this.#inFlight.add(work);
    try {
      return await work;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  async #fetch(src: Buffer, tmp: Buffer, opts: FetchOptions): Promise<FetchResult> {
    throwIfAborted(opts.signal, src);
    let source: FileHandle;
    try {
      source = await openRegularSource(src);
    } catch (err) {
      throw sourceError(errnoCode(err), src, 'fetch', err);
    }
    let created = false;
    try {
      if (opts.bwlimitBytesPerSec) {
        const target = await createTempFile(tmp);
        created = true;
        await streamCopy(source, target, new BandwidthLimiter(opts.bwlimitBytesPerSec), opts.signal, src, tmp);
      } else {
        try {
          // Through the fd we opened with O_NOFOLLOW, so a symlink swapped in meanwhile is never followed.
          await copyFile(
            `/proc/self/fd/${source.fd}`,
            tmp,
            constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE,
          );
          created = true;
        } catch (err) {
          created = errnoCode(err) !== 'EEXIST';
          throw destError(errnoCode(err), tmp, err);
        }
        // libuv gives the copy the source's permission bits; the contract says 0600 until the caller chmods.
        await chmod(tmp, 0o600);
      }
      throwIfAborted(opts.signal, src);
      if (opts.fsync) await fsyncFile(tmp);
      const bytes = Number((await lstat(tmp)).size);
      const stat = await lstatSource(src).catch((err: unknown) => {
        throw sourceError(errnoCode(err), src, 'lstat after fetch', err);
      });
      if (stat && stat.type !== 'file') {
        throw new TransportError('HPM_TRANSPORT_NOT_A_FILE', `fetch ${showPath(src)}: source is now a ${stat.type}`, {
          path: src,
        });
      }
      return { bytes, stat };
    } catch (err) {
      if (created) await discardTempFile(tmp).catch(() => undefined);
      if (err instanceof TransportError) throw err;
      throw destError(errnoCode(err), tmp, err);
    } finally {
      await source.close().catch(() => undefined);
    }
  }
}

async function streamCopy(
  source: FileHandle,
  target: FileHandle,
  limiter: BandwidthLimiter,
  signal: AbortSignal | undefined,
  src: Buffer,
  tmp: Buffer,
): Promise<void> {
  const buf = Buffer.allocUnsafe(STREAM_CHUNK);
  try {
    let position = 0;
    for (;;) {
      throwIfAborted(signal, src);
      let bytesRead: number;
      try {
        ({ bytesRead } = await source.read(buf, 0, buf.length, position));
      } catch (err) {
        throw sourceError(errnoCode(err), src, 'fetch', err);
      }
      if (bytesRead === 0) break;
      await limiter.take(bytesRead, signal).catch(() => throwIfAborted(signal, src));
      try {
        await target.write(buf, 0, bytesRead, position);
      } catch (err) {
        throw destError(errnoCode(err), tmp, err);
      }
      position += bytesRead;
    }
  } finally {
    await target.close();
  }
}
