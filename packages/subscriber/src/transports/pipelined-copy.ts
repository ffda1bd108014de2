import type { FileHandle } from 'node:fs/promises';
import type { BandwidthLimiter } from './bandwidth-limiter.js';
import { ChunkWriter } from './chunk-writer.js';
import { TransportError, destError, errnoCode } from './errors.js';

/** Reads up to `length` bytes at `offset`; fewer means end of file (for regular files). */
export type RangeReader = (offset: number, length: number) => Promise<Buffer>;

export interface PipelinedCopyOptions {
  read: RangeReader;
  /** A new, empty file (a fresh temp file). */
  target: FileHandle;
  /** Path of the target, for error messages. */
  targetPath: Buffer;
  chunkSize: number;
  /** Reads in flight at once. */
  concurrency: number;
  /** Expected size (from a stat just before): reads are issued up to it plus one end-of-file probe. */
  sizeHint?: number;
  limiter?: BandwidthLimiter;
  signal?: AbortSignal;
  /** Called whenever a read completes (feeds a stall watchdog). */
  onProgress?: () => void;
  /** Called with each chunk read once it is written (or not needed): its memory may be reused. */
  release?: (data: Buffer) => void;
}

/**
 * Copy a remote file with many reads in flight, writing each chunk at its offset as it arrives, until
 * end of file. Works for a file that grows meanwhile (reads continue past the hint). Returns the size.
 * A short read is followed by a read of the rest, so only a zero-byte read ends the file.
 */
export async function pipelinedCopy(options: PipelinedCopyOptions): Promise<number> {
  const { read, target, chunkSize, concurrency } = options;
  let eofAt = Number.POSITIVE_INFINITY;
  let nextOffset = 0;
  const gaps: { offset: number; length: number }[] = [];
  let failure: unknown;
  /** End of the furthest byte written: past the end of file only when the source shrank meanwhile. */
  let writtenEnd = 0;
  const inFlight = new Set<Promise<void>>();
  const writer = new ChunkWriter(target);
  let hint = options.sizeHint;
  // Without a hint, start with one read and double per full read, so a small file costs one or two.
  let window = hint === undefined ? 1 : concurrency;

  const readOne = async (offset: number, length: number): Promise<void> => {
    const data = await read(offset, length);
    options.onProgress?.();
    if (data.length > 0 && hint !== undefined && offset >= hint) hint = undefined; // it grew: no more hint
    if (data.length === length) window = Math.min(concurrency, window * 2);
    if (data.length === 0) {
      eofAt = Math.min(eofAt, offset);
      options.release?.(data);
      return;
    }
    if (data.length < length) gaps.push({ offset: offset + data.length, length: length - data.length });
    try {
      await writer.write(data, offset);
      writtenEnd = Math.max(writtenEnd, offset + data.length);
    } catch (err) {
      throw destError(errnoCode(err), options.targetPath, err);
    }
    options.release?.(data);
  };

  const nextRange = (): { offset: number; length: number } | undefined => {
    const gap = gaps.shift();
    if (gap) return gap.offset < eofAt ? gap : nextRange();
    if (nextOffset >= eofAt) return undefined;
    // With a size hint, stop after the probe read at the hinted end until that probe says there is more.
    if (hint !== undefined && nextOffset > hint && eofAt === Number.POSITIVE_INFINITY && inFlight.size > 0) return undefined;
    const range = { offset: nextOffset, length: chunkSize };
    if (hint !== undefined && nextOffset < hint && nextOffset + chunkSize > hint) range.length = hint - nextOffset;
    nextOffset += range.length;
    return range;
  };

  for (;;) {
    if (failure) break;
    if (options.signal?.aborted) {
      failure = new TransportError('HPM_TRANSPORT_ABORTED', 'fetch aborted', { cause: options.signal.reason });
      break;
    }
    const range = inFlight.size < window ? nextRange() : undefined;
    if (!range) {
      if (inFlight.size === 0) break;
      await Promise.race(inFlight);
      continue;
    }
    if (options.limiter) {
      try {
        await options.limiter.take(range.length, options.signal);
      } catch {
        continue; // aborted: caught at the top of the loop
      }
    }
    const work: Promise<void> = readOne(range.offset, range.length).then(
      () => {
        inFlight.delete(work);
      },
      (err: unknown) => {
        inFlight.delete(work);
        failure ??= err;
      },
    );
    inFlight.add(work);
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  const size = Number.isFinite(eofAt) ? eofAt : 0;
  // Every byte below the end was written into the empty target: only a write past it needs cutting.
  if (writtenEnd <= size) return size;
  try {
    // Chunks read past a shrinking end must not survive in the copy.
    await target.truncate(size);
  } catch (err) {
    throw destError(errnoCode(err), options.targetPath, err);
  }
  return size;
}
