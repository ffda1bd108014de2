/**
 * Typed scan errors. Callers branch on `code` and `retryable`, never on the message.
 * Listed in docs/errors.md (packages/cli/src/errors-doc.ts gathers every package's table).
 */
export const SCAN_ERROR_CODES = {
  HPM_SCAN_BINARY_MISSING: { retryable: false, exitCode: 1, summary: 'native-scan/build/hpcm-scan is missing or not executable (run `make -C native-scan`)' },
  HPM_SCAN_BAD_ROOT: { retryable: false, exitCode: 2, summary: 'The root (or the comparison root) cannot be opened as a directory' },
  HPM_SCAN_USAGE: { retryable: false, exitCode: 2, summary: 'An option is invalid (since and compareWith together, a bad time, threads out of range...)' },
  HPM_SCAN_FAILED: { retryable: true, exitCode: 1, summary: 'The walker died, broke the record stream, or lost queued directories' },
  HPM_SCAN_ABORTED: { retryable: true, exitCode: 1, summary: 'The caller aborted the scan; the checkpoint keeps the completed parts' },
  HPM_SCAN_CHECKPOINT: { retryable: false, exitCode: 1, summary: 'The checkpoint file cannot be read or written' },
} as const;

export type ScanErrorCode = keyof typeof SCAN_ERROR_CODES;

export class ScanError extends Error {
  override readonly name = 'ScanError';
  readonly code: ScanErrorCode;
  readonly retryable: boolean;
  readonly exitCode: 1 | 2;

  constructor(code: ScanErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = SCAN_ERROR_CODES[code].retryable;
    this.exitCode = SCAN_ERROR_CODES[code].exitCode;
  }
}

export function isScanError(err: unknown, code?: ScanErrorCode): err is ScanError {
  return err instanceof ScanError && (code === undefined || err.code === code);
}
