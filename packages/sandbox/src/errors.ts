/**
 * Mirrors the shape of core's HpcmError for the one code the sandbox raises, HPM_SANDBOX_FAILED,
 * so callers can branch on `code` today and the class can be swapped for core's later.
 */
export const SANDBOX_FAILED = 'HPM_SANDBOX_FAILED' as const;

export class SandboxError extends Error {
  override readonly name = 'SandboxError';
  readonly code = SANDBOX_FAILED;
  readonly retryable = false;
  readonly exitCode = 1 as const;
  /** The service the error is about: rabbitmq, epmd, sshd, or a component name. */
  readonly field: string | undefined;

  constructor(field: string | undefined, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.field = field;
  }
}
