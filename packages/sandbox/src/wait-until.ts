import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitUntilOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Checked before each probe; a message aborts the wait at once (e.g. the process died). */
  abortIf?: () => string | null;
}

/**
 * Polls `probe` until it returns a value other than undefined. Resolves with that value, or with an
 * `{ error }` naming why it gave up (timeout, or the abortIf message).
 */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined>,
  options: WaitUntilOptions,
): Promise<{ value: T } | { error: string }> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const abort = options.abortIf?.() ?? null;
    if (abort !== null) return { error: abort };
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return { value };
    if (Date.now() >= deadline) return { error: `not ready after ${options.timeoutMs} ms` };
    await sleep(options.intervalMs ?? 100);
  }
}
