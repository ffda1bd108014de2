/**
 * Every error hpcmirror raises on purpose is an HpcmError with a stable code.
 * Callers branch on `code` and `retryable`, never on message text. The table below is
 * the single source of docs/errors.md (a test keeps the two in sync).
 */
export interface ErrorSpec {
  /** One-line description for docs/errors.md. */
  readonly summary: string;
  /** Whether trying the same thing again later may succeed. */
  readonly retryable: boolean;
  /** Exit status a CLI command uses when this error ends it. */
  readonly exitCode: 1 | 2;
}

export const ERROR_CODES = {
  HPM_CONFIG_INVALID: { summary: 'A config file does not parse or does not match the schema', retryable: false, exitCode: 2 },
  HPM_CONFIG_NOT_FOUND: { summary: 'A config or credentials file named on the command line does not exist', retryable: false, exitCode: 2 },
  HPM_CONFIG_INSECURE: { summary: 'A credentials file is readable by others than its owner (must be mode 0600)', retryable: false, exitCode: 2 },
  HPM_CONFIG_NO_CREDENTIALS: { summary: 'No credentials match the broker URL', retryable: false, exitCode: 2 },
  HPM_USAGE: { summary: 'A command was called with wrong arguments', retryable: false, exitCode: 2 },
  HPM_MSG_INVALID: { summary: 'A message body is not a valid v03 announcement (parked with the reason)', retryable: false, exitCode: 1 },
  HPM_MSG_TOO_LARGE: { summary: 'A message body exceeds the configured size limit (parked)', retryable: false, exitCode: 1 },
  HPM_MSG_UNSUPPORTED: { summary: 'A message uses a v03 feature hpcmirror does not apply, such as blocks (parked)', retryable: false, exitCode: 1 },
  HPM_PATH_UNSAFE: { summary: 'A path escapes the mirror root (.., absolute, NUL, or through a symlink) (parked)', retryable: false, exitCode: 1 },
  HPM_PATH_OUTSIDE_ROOT: { summary: 'A path lies outside the configured source_root (parked)', retryable: false, exitCode: 1 },
  HPM_BROKER_UNREACHABLE: { summary: 'The broker could not be reached in time', retryable: true, exitCode: 1 },
  HPM_BROKER_PUBLISH_TIMEOUT: { summary: 'A publish was not confirmed by the broker in time', retryable: true, exitCode: 1 },
  HPM_BROKER_NACK: { summary: 'The broker refused (nacked) a published message', retryable: true, exitCode: 1 },
  HPM_BROKER_CLOSED: { summary: 'An operation was attempted on a broker connection that was closed', retryable: false, exitCode: 1 },
  HPM_LIFECYCLE_TIMEOUT: { summary: 'A component did not start or stop within its time box', retryable: true, exitCode: 1 },
  HPM_SPOOL_UNSAFE: { summary: 'The spool directory is a symlink, not owned by the user, not mode 0700, or inside source_root; the agent refuses it', retryable: false, exitCode: 2 },
  HPM_STATE_LOCKED: { summary: 'Another running process (named by its pid) already uses this state directory', retryable: true, exitCode: 1 },
  HPM_STATE_CORRUPT: { summary: 'A state file (checkpoint, outbox journal, progress) cannot be parsed; move it aside to start over', retryable: false, exitCode: 1 },
  HPM_SANDBOX_FAILED: { summary: 'A sandbox service (RabbitMQ, sshd, a component) failed to start or stop', retryable: false, exitCode: 1 },
  HPM_DEST_IO: { summary: 'Writing the destination failed (disk full, permission); retried with backoff', retryable: true, exitCode: 1 },
  HPM_WATCH_LIMIT: { summary: 'The inotify watch limit (fs.inotify.max_user_watches) is too low for the watched tree; the message names the number needed', retryable: false, exitCode: 2 },
  HPM_WATCH_FAILED: { summary: 'The file-system watcher could not watch a directory (missing, unreadable, outside source_root) or its inotify reader died', retryable: true, exitCode: 1 },
  HPM_FAILBACK_PRIMARY_DOWN: { summary: 'failback: the primary root is not reachable, not a directory or not writable', retryable: true, exitCode: 1 },
  HPM_FAILBACK_DELETE_CAP: { summary: 'failback: the plan would delete more than the cap (--max-delete); nothing was deleted', retryable: false, exitCode: 1 },
  HPM_FAILBACK_NO_FAILOVER: { summary: 'failback: no failover record (run `hpcmirror failover` first, or give --since TIME and --manifest FILE)', retryable: false, exitCode: 2 },
  HPM_FAILBACK_DRAIN: { summary: 'failback: the reverse flow did not drain or converge within the time box', retryable: true, exitCode: 1 },
  HPM_FAILBACK_AUDIT: { summary: 'failback: the final audit found differences that primary changes since T0 do not explain', retryable: false, exitCode: 1 },
  HPM_FAILBACK_PLAN: { summary: 'failback: the plan file a resumed run follows is missing or changed (move failback.json aside to plan again)', retryable: false, exitCode: 1 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface HpcmErrorOptions {
  cause?: unknown;
  /** The message field, config key or path the error is about. */
  field?: string;
  /** Overrides the code's default. */
  retryable?: boolean;
}

export class HpcmError extends Error {
  override readonly name = 'HpcmError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly exitCode: 1 | 2;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: HpcmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const spec: ErrorSpec = ERROR_CODES[code];
    this.code = code;
    this.retryable = options.retryable ?? spec.retryable;
    this.exitCode = spec.exitCode;
    this.field = options.field;
  }
}

export function isHpcmError(err: unknown, code?: ErrorCode): err is HpcmError {
  return err instanceof HpcmError && (code === undefined || err.code === code);
}

/** One line for logs and CLIs: `HPM_X: message`. */
export function describeError(err: unknown): string {
  if (err instanceof HpcmError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
