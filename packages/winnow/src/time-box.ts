import { HpcmError } from '@hpcmirror/core';

/** Resolves with `work`, or rejects with HPM_LIFECYCLE_TIMEOUT after `ms`. */
export async function timeBox<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HpcmError('HPM_LIFECYCLE_TIMEOUT', `${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
