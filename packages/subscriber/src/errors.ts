import { HpcmError, isHpcmError } from '@hpcmirror/core';
import { isTransportError } from './transports/errors.js';

/**
 * Errors the apply engine raises itself. Core's HpcmError covers paths (HPM_PATH_*), messages
 * (HPM_MSG_*) and destination I/O (HPM_DEST_IO); these are the subscriber's own situations.
 * Listed in docs/errors.md (packages/cli/src/errors-doc.ts gathers every package's table).
 */
export const SUBSCRIBER_ERROR_CODES = {
  /** More removes per minute than delete_guard_per_min: removes wait, copies go on. */
  HPM_SUB_DELETE_PAUSED: { retryable: true, summary: 'Removes are paused by the delete guard; retried later' },
  /** The source kept changing while it was fetched (3 tries); retried with backoff. */
  HPM_SUB_SOURCE_BUSY: { retryable: true, summary: 'The source changed during every fetch attempt; retried with backoff' },
  /** The source root itself is missing or not a directory (unmounted?): nothing is removed on its word. */
  HPM_SUB_SOURCE_ROOT: { retryable: true, summary: 'The source root is missing or not a directory; nothing is applied until it is back' },
  /** A destination directory moved while a file was written into it. */
  HPM_SUB_DEST_MOVED: { retryable: true, summary: 'A destination directory moved during the apply; retried' },
  /** baseUrl names a scheme/host outside base_url_allow. */
  HPM_SUB_BASEURL_DENIED: { retryable: false, summary: 'The message baseUrl is not in base_url_allow (parked)' },
  /** The subscriber is stopping: the message goes back to the broker untouched. */
  HPM_SUB_STOPPING: { retryable: true, summary: 'The subscriber is stopping; the message is requeued' },
  /** A subscriber setting is missing or inconsistent (destination_root, trash_dir, ssh). */
  HPM_SUB_CONFIG: { retryable: false, summary: 'The subscriber configuration is incomplete or inconsistent' },
} as const;

export type SubscriberErrorCode = keyof typeof SUBSCRIBER_ERROR_CODES;

export class SubscriberError extends Error {
  override readonly name = 'SubscriberError';
  readonly code: SubscriberErrorCode;
  readonly retryable: boolean;

  constructor(code: SubscriberErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = SUBSCRIBER_ERROR_CODES[code].retryable;
  }
}

export function isSubscriberError(err: unknown, code?: SubscriberErrorCode): err is SubscriberError {
  return err instanceof SubscriberError && (code === undefined || err.code === code);
}

/** What to do with a message whose apply failed. */
export type Disposition = 'park' | 'retry' | 'requeue';

/** Transport failures that concern the whole source, not this message: never park for them. */
const GLOBAL_TRANSPORT_CODES = new Set(['HPM_TRANSPORT_HOSTKEY', 'HPM_TRANSPORT_AUTH', 'HPM_TRANSPORT_CONFIG', 'HPM_TRANSPORT_NOT_STARTED', 'HPM_TRANSPORT_SOURCE_ACCESS']);

export function dispositionOf(err: unknown): Disposition {
  if (isSubscriberError(err)) {
    if (err.code === 'HPM_SUB_STOPPING') return 'requeue';
    return err.retryable ? 'retry' : 'park';
  }
  if (isHpcmError(err)) return err.retryable ? 'retry' : 'park';
  if (isTransportError(err)) {
    if (err.code === 'HPM_TRANSPORT_STOPPED' || err.code === 'HPM_TRANSPORT_ABORTED') return 'requeue';
    if (err.retryable || GLOBAL_TRANSPORT_CODES.has(err.code)) return 'retry';
    return err.code === 'HPM_TRANSPORT_BAD_PATH' ? 'park' : 'retry';
  }
  // Raw errno from the destination (ENOSPC, EIO, EACCES...): may pass.
  return 'retry';
}

/** `CODE: message` for logs, progress reasons and the hpcm_reject header. */
export function reasonOf(err: unknown): string {
  if (err instanceof SubscriberError || err instanceof HpcmError || isTransportError(err)) return `${err.code}: ${err.message}`;
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code && e.message) return `HPM_DEST_IO: ${e.message}`;
  return String((err as Error)?.message ?? err);
}

/** Wraps a raw errno from a destination operation into HPM_DEST_IO (retryable). */
export function destIo(what: string, err: unknown): HpcmError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'error';
  return new HpcmError('HPM_DEST_IO', `${what}: ${code}`, { cause: err });
}
