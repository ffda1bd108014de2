/** Constants of the helper protocol (PROTOCOL.md). */

/** First line the helper writes; the number is the protocol version. */
export const GREETING = 'HPCM-HELPER 1';

/** Longest request line the helper accepts (a 4096-byte path is at most 12 KiB encoded). */
export const MAX_REQUEST_LINE = 64 * 1024;

/** Largest G (read) request. */
export const MAX_READ_LENGTH = 4 * 1024 * 1024;

const REQUEST_ID = /^[A-Za-z0-9_.-]{1,32}$/;

export function isRequestId(text: string): boolean {
  return REQUEST_ID.test(text);
}
