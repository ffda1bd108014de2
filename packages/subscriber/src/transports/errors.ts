/**
 * Typed transport errors. Callers branch on `code` and `retryable`, never on the message.
 * Listed in docs/errors.md (packages/cli/src/errors-doc.ts gathers every package's table).
 */

export const TRANSPORT_ERROR_CODES = {
  HPM_TRANSPORT_SOURCE_GONE: { retryable: false, summary: 'The source path does not exist (or a parent is gone / not a dir)' },
  HPM_TRANSPORT_NOT_A_FILE: { retryable: false, summary: 'fetch/checksum of a source that is a directory, symlink or special file' },
  HPM_TRANSPORT_NOT_A_SYMLINK: { retryable: false, summary: 'readlink of a source that is not a symlink' },
  HPM_TRANSPORT_SOURCE_ACCESS: { retryable: false, summary: 'The source exists but cannot be read (EACCES, EPERM, ELOOP, ENAMETOOLONG)' },
  HPM_TRANSPORT_BAD_PATH: { retryable: false, summary: 'A path or temp name this transport cannot handle (NUL byte, not absolute, `/` in tempName...)' },
  HPM_TRANSPORT_CONNECTION: { retryable: true, summary: 'The connection to the source host failed or dropped' },
  HPM_TRANSPORT_TIMEOUT: { retryable: true, summary: 'An operation made no progress within its time box' },
  HPM_TRANSPORT_HOSTKEY: { retryable: false, summary: 'The key of the source host is unknown to, or differs from, known_hosts' },
  HPM_TRANSPORT_AUTH: { retryable: false, summary: 'The source host refused our key' },
  HPM_TRANSPORT_HELPER: { retryable: true, summary: 'The remote metadata helper failed to start, died, or broke the protocol' },
  HPM_TRANSPORT_REMOTE_IO: { retryable: true, summary: 'The source host reported an I/O failure while reading' },
  HPM_TRANSPORT_DEST_IO: { retryable: true, summary: 'Writing the temp file failed (ENOSPC, EIO, EDQUOT, EROFS...)' },
  HPM_TRANSPORT_DEST_GONE: { retryable: true, summary: 'The destination directory vanished while fetching into it' },
  HPM_TRANSPORT_TEMP_EXISTS: { retryable: true, summary: 'The temp name already exists in the destination directory (left untouched)' },
  HPM_TRANSPORT_RSYNC: { retryable: true, summary: 'rsync failed in a way not classified above' },
  HPM_TRANSPORT_ABORTED: { retryable: true, summary: 'The caller aborted the fetch' },
  HPM_TRANSPORT_STOPPED: { retryable: true, summary: 'The transport was stopped (or is stopping)' },
  HPM_TRANSPORT_NOT_STARTED: { retryable: false, summary: 'Called before start()' },
  HPM_TRANSPORT_CONFIG: { retryable: false, summary: 'Invalid transport configuration (missing identity file, bad option...)' },
} as const;

export type TransportErrorCode = keyof typeof TRANSPORT_ERROR_CODES;

export interface TransportErrorOptions {
  cause?: unknown;
  /** Override the code's default retryability. */
  retryable?: boolean;
  /** The path the error is about, if any (bytes; never logged raw by us). */
  path?: Buffer;
}

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  readonly retryable: boolean;
  override readonly cause: unknown;
  readonly path: Buffer | undefined;

  constructor(code: TransportErrorCode, message: string, options: TransportErrorOptions = {}) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
    this.retryable = options.retryable ?? TRANSPORT_ERROR_CODES[code].retryable;
    this.cause = options.cause;
    this.path = options.path;
  }
}

export function isTransportError(err: unknown): err is TransportError {
  return err instanceof TransportError;
}

/** errno code of a Node system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A path for messages: valid UTF-8 shown as is, other bytes as \xNN (never throws, never lossy). */
export function showPath(path: Buffer): string {
  let out = '';
  const text = path.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(path) && !/[\x00-\x1f\x7f]/.test(text)) return text;
  for (const byte of path) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** Map an errno from reading the SOURCE (local fs or the remote helper) to a TransportError. */
export function sourceError(errno: string | undefined, path: Buffer, what: string, cause?: unknown): TransportError {
  const where = `${what} ${showPath(path)}`;
  switch (errno) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new TransportError('HPM_TRANSPORT_SOURCE_GONE', `${where}: source is gone (${errno})`, { cause, path });
    case 'EACCES':
    case 'EPERM':
    case 'ELOOP':
    case 'ENAMETOOLONG':
      return new TransportError('HPM_TRANSPORT_SOURCE_ACCESS', `${where}: source not readable (${errno})`, { cause, path });
    case 'ENOTREG':
    case 'EISDIR':
      return new TransportError('HPM_TRANSPORT_NOT_A_FILE', `${where}: source is not a regular file`, { cause, path });
    default:
      return new TransportError('HPM_TRANSPORT_REMOTE_IO', `${where}: source read failed (${errno ?? 'unknown error'})`, {
        cause,
        path,
      });
  }
}

/** Map an errno from writing the DESTINATION temp file to a TransportError. */
export function destError(errno: string | undefined, path: Buffer, cause?: unknown): TransportError {
  const where = `writing ${showPath(path)}`;
  switch (errno) {
    case 'EEXIST':
      return new TransportError('HPM_TRANSPORT_TEMP_EXISTS', `${where}: temp name already exists`, { cause, path });
    case 'ENOENT':
    case 'ENOTDIR':
      return new TransportError('HPM_TRANSPORT_DEST_GONE', `${where}: destination directory is gone (${errno})`, {
        cause,
        path,
      });
    default:
      return new TransportError('HPM_TRANSPORT_DEST_IO', `${where}: ${errno ?? 'write failed'}`, { cause, path });
  }
}
