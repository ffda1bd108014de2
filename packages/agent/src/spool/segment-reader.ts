import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { decodeRecords, type SpoolRecord } from './record.js';

/** Records read from one stretch of a segment. */
export interface SegmentChunk {
  /** File offset of the first byte the chunk covered. */
  start: number;
  /** File offset after the last byte consumed (records and skipped bytes). */
  end: number;
  /** Each record with its end offset in the file. */
  records: { record: SpoolRecord; end: number }[];
  skipped: number;
  skippedBytes: number;
}

const CHUNK_BYTES = 256 << 10;

/**
 * Reads one segment forward from an offset (the checkpoint), a chunk at a time, opened with
 * O_NOFOLLOW. A record cut off at the end of what is there stays for the next read.
 */
export class SegmentReader {
  readonly path: string;
  #fh: FileHandle | undefined;
  #pos: number;
  #size = 0;
  #ino = 0n;
  #mtimeMs = 0;
  readonly #buf = Buffer.allocUnsafe(CHUNK_BYTES);

  constructor(path: string, offset: number) {
    this.path = path;
    this.#pos = offset;
  }

  /** Where the next read starts. */
  get position(): number {
    return this.#pos;
  }

  get size(): number {
    return this.#size;
  }

  get ino(): bigint {
    return this.#ino;
  }

  get mtimeMs(): number {
    return this.#mtimeMs;
  }

  /** Opens (once) and refreshes size; false when the file is gone. */
  async refresh(): Promise<boolean> {
    try {
      this.#fh ??= await open(this.path, constants.O_RDONLY | constants.O_NOFOLLOW);
      const st = await this.#fh.stat({ bigint: true });
      this.#size = Number(st.size);
      this.#ino = st.ino;
      this.#mtimeMs = Number(st.mtimeMs);
      return true;
    } catch {
      return false;
    }
  }

  /** Restart from another offset (the file was replaced, or shrank). */
  rewind(offset: number): void {
    this.#pos = offset;
  }

  /**
   * Decodes the next chunk. `final`: nothing more will be appended, so an incomplete tail is
   * corrupt (skipped) instead of pending. Undefined when nothing new was consumed.
   */
  async next(final: boolean): Promise<SegmentChunk | undefined> {
    if (!this.#fh) return undefined;
    const want = Math.min(this.#size - this.#pos, CHUNK_BYTES);
    if (want <= 0) return undefined;
    const { bytesRead } = await this.#fh.read(this.#buf, 0, want, this.#pos);
    if (bytesRead === 0) return undefined;
    const atEof = this.#pos + bytesRead >= this.#size;
    const res = decodeRecords(this.#buf.subarray(0, bytesRead), 0, { final: final && atEof });
    if (res.next === 0) return undefined;
    const start = this.#pos;
    this.#pos += res.next;
    return {
      start,
      end: this.#pos,
      records: res.records.map((record) => ({ record, end: start + record.offset + record.length })),
      skipped: res.skipped,
      skippedBytes: res.skippedBytes,
    };
  }

  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close();
  }
}
