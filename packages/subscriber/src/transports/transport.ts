import type { TransportError } from './errors.js';

/**
 * The subscriber's view of a source file system: how to look at it (stat, list, readlink) and how to
 * copy one file's content out of it into a temp file on the destination. Everything else (rename into
 * place, mode, mtime, ownership, hard-link groups, post-check) is the caller's job.
 *
 * Paths are Buffers: Linux names are bytes, not text. Source paths are absolute on the source host.
 *
 * Contract shared by every transport (checked by test/transports/conformance.ts):
 * - `start()`/`stop()` are idempotent and time-boxed; calls other than start() before start() throw
 *   HPM_TRANSPORT_NOT_STARTED, calls after or during stop() throw HPM_TRANSPORT_STOPPED.
 * - `stat` and `list` have lstat semantics: a final symlink is reported as a symlink, never followed.
 * - `fetch` writes into `dest.dirPath/dest.tempName` only (created O_EXCL, mode 0600 when it returns),
 *   fsyncs it when asked, and on any failure removes it before throwing a TransportError. It never
 *   renames, chmods or utimes anything: the caller does. The rsync transport additionally uses a private
 *   staging directory named like a temp file (`.hpcm.<16 hex>`, keeping the first 6 hex digits of the
 *   caller's tempName) in `dest.dirPath` while it runs and removes it before returning; a crashed
 *   worker's startup cleanup must remove such directories too (recursively).
 * - A fetch of a source that is not (or no longer) a regular file fails: gone -> HPM_TRANSPORT_SOURCE_GONE,
 *   symlink/dir/other -> HPM_TRANSPORT_NOT_A_FILE (both not retryable; the caller reconciles the path).
 * - Errors are TransportError (./errors.ts): `code` HPM_TRANSPORT_*, `retryable`, `cause`.
 */

export type SourceFileType = 'file' | 'dir' | 'symlink' | 'other';

export interface SourceStat {
  type: SourceFileType;
  size: number;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  mtimeNs: bigint;
  /** 0n when unknown (SFTP stat fallback). */
  ctimeNs: bigint;
  /** 0n when unknown (SFTP stat fallback). */
  ino: bigint;
  /** 0n when unknown (SFTP stat fallback). */
  dev: bigint;
  /** 1 when unknown (SFTP stat fallback). */
  nlink: number;
  uid: number;
  gid: number;
  /** false when from the SFTP stat fallback: whole-second times, no ctime/inode/dev/nlink. */
  nsPrecision: boolean;
}

export interface TransportFeatures {
  /** stat/list give nanosecond mtime/ctime (else whole seconds). */
  nsTimes: boolean;
  /** stat/list give inode, dev, nlink and ctime. */
  inodes: boolean;
  /** stat() of many paths costs about one round trip. */
  batchStat: boolean;
  /** checksum() is available (computed on the source host). */
  serverSideHash?: boolean;
  /** fetchMany() is available and cheaper per file than fetch() (one rsync for many paths). */
  fetchMany?: boolean;
}

export interface FetchDestination {
  /**
   * An open directory fd for `dirPath` (O_RDONLY|O_DIRECTORY). When given, the temp file is created
   * relative to it (via /proc/self/fd), so a rename of a destination parent cannot redirect the write.
   */
  dirFd?: number;
  /** The destination directory; used when dirFd is absent, and in messages. */
  dirPath: Buffer;
  /** One path component, e.g. `.hpcm.<16 hex>`; must not exist yet. */
  tempName: Buffer;
}

export interface FetchOptions {
  /**
   * The source stat the caller just took (its decision is based on it): a hint for sizing reads, and
   * when it says `file` the SFTP transport skips its own lstat before opening. Never trusted for
   * content: a stale hint still yields the current content, and the post-check stat is always re-read.
   */
  expect?: SourceStat;
  /** fsync the temp file before returning. */
  fsync: boolean;
  /**
   * Called with the temp file's fd once all its content is written and the source re-read (`after`,
   * as FetchResult.stat), before the transport closes it: the caller finishes the file through the
   * writer's own fd instead of opening it again, or returns false to leave it (the source changed
   * while it was read: the copy will be dropped). Transports that never hold the fd (local copyFile,
   * rsync) do not call it; FetchResult.finished says whether it ran and finished the file.
   */
  finish?: (fd: number, after: SourceStat | null) => Promise<boolean>;
  /** Abort the copy: the temp file is removed and HPM_TRANSPORT_ABORTED is thrown. */
  signal?: AbortSignal;
  /** Cap this fetch's transfer rate. */
  bwlimitBytesPerSec?: number;
}

export interface FetchResult {
  /** Bytes written to the temp file (its final size). */
  bytes: number;
  /**
   * The source's lstat re-read after the copy finished, for the caller's post-check; null when the source
   * vanished after the copy. Always a regular file otherwise (anything else makes fetch throw).
   */
  stat: SourceStat | null;
  /** FetchOptions.finish ran on the temp file and finished it. */
  finished?: boolean;
}

export interface FetchManyItem {
  src: Buffer;
  dest: FetchDestination;
}

export type FetchManyOutcome =
  | ({ ok: true } & FetchResult)
  | { ok: false; error: TransportError };

export interface ListEntry {
  name: Buffer;
  stat: SourceStat;
}

export type ChecksumAlgorithm = 'sha512' | 'md5';

export type TransportName = 'local' | 'sftp' | 'rsync';

export interface Transport {
  readonly name: TransportName;
  /** What this transport can do; accurate after start() (the SFTP transport degrades without its helper). */
  readonly features: TransportFeatures;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** lstat of each path, in order; null = does not exist (ENOENT/ENOTDIR). One batch, one round trip. */
  stat(paths: Buffer[]): Promise<(SourceStat | null)[]>;
  /** The symlink's target, verbatim. SOURCE_GONE if absent, NOT_A_SYMLINK if not a symlink. */
  readlink(path: Buffer): Promise<Buffer>;
  /** One listing of `dir` with the lstat of each entry (no `.`/`..`); null if dir is gone or not a dir. */
  list(dir: Buffer): Promise<ListEntry[] | null>;
  /** Copy the content of regular file `src` into `dest.dirPath/dest.tempName` (see the contract above). */
  fetch(src: Buffer, dest: FetchDestination, opts: FetchOptions): Promise<FetchResult>;
  /** Many fetches in one go (announced by features.fetchMany); one outcome per item, in order. */
  fetchMany?(items: FetchManyItem[], opts: FetchOptions): Promise<FetchManyOutcome[]>;
  /** Checksum of a regular file computed on the source, base64 (as in a v03 `identity`); null if gone. */
  checksum?(path: Buffer, algo: ChecksumAlgorithm): Promise<string | null>;
}

/** A pino-compatible subset; transports log through whatever the caller injects. */
export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: TransportLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
