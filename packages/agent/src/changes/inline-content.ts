import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import type { V03Body } from '@hpcmirror/core';
import { fileStatOf, isRegMode, statKey, type FileStat } from './file-stat.js';

export type InlineContent = NonNullable<V03Body['content']>;

// O_NONBLOCK: a FIFO swapped in after the stat must not block the open.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

const describes = (st: BigIntStats, want: FileStat): boolean => isRegMode(Number(st.mode)) && statKey(fileStatOf(st)) === statKey(want);

/**
 * The bytes of the version `want` describes, or undefined when the file is not that version any
 * more (changed, replaced, gone, unreadable): before and after the read, the open file must still
 * match `want`, so a message never carries bytes that disagree with its own stat.
 *
 * Synchronous on purpose: for a few KiB the five thread-pool round trips of the async calls cost
 * about ten times the syscalls themselves (0.25 against 0.03 ms CPU per 4 KiB file, measured), and
 * the agent pays that per announced file. A source file system that hangs stalls the agent either way.
 */
export function readVersion(path: Buffer, want: FileStat): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch {
    return undefined;
  }
  try {
    if (!describes(fstatSync(fd, { bigint: true }), want)) return undefined;
    const size = Number(want.size);
    // One byte more than expected: a file that grew is caught by the read, not only by the fstat.
    const buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
      if (got === buf.length) break;
    }
    if (got !== size || !describes(fstatSync(fd, { bigint: true }), want)) return undefined;
    return buf.subarray(0, size);
  } catch {
    return undefined;
  } finally {
    try { closeSync(fd); } catch { /* read-only: nothing to lose */ }
  }
}

/** v03 `content`: utf-8 text when the bytes are valid UTF-8 and do not grow by JSON escaping, else base64. */
export function inlineContent(bytes: Buffer): InlineContent {
  if (isUtf8(bytes)) {
    const text = bytes.toString('utf8');
    // Control characters become \u00XX in JSON: binary that happens to be valid UTF-8 is smaller in base64.
    if (Buffer.byteLength(JSON.stringify(text)) - 2 <= Math.ceil(bytes.length / 3) * 4) return { encoding: 'utf-8', value: text };
  }
  return { encoding: 'base64', value: bytes.toString('base64') };
}
