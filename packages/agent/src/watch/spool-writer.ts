import { closeSync, constants, openSync, readdirSync, renameSync, statSync, writeFileSync, writeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRecord, type RecordInput } from '../spool/record.js';
import { segmentFileName } from '../spool/segment-name.js';

export interface SpoolWriterOptions {
  dir: string;
  /** The host part of segment names, as the shim writes it (spoolHostName). */
  host: string;
  bucketS: number;
  maxBytes: number;
  nowNs: () => bigint;
}

export type SpoolRecordInput = Omit<RecordInput, 'pid' | 'seq' | 'timeNs'>;

/**
 * Appends records to the spool exactly as the shim does (native-shim/SPOOL.md): one write() per
 * record on an O_APPEND segment `<host>.<bucket>.seg` (0600, O_NOFOLLOW), this process's own
 * sequence, the size cap, and the loss marker when a record cannot be written. The agent cannot
 * tell these records from the shim's, so they take the same path to the broker.
 */
export class SpoolWriter {
  readonly #o: SpoolWriterOptions;
  #fd = -1;
  #bucket = -1;
  #seq = 0;
  #hostBytes = 0;
  written = 0;
  lost = 0;

  constructor(o: SpoolWriterOptions) {
    this.#o = o;
  }

  /** false when the record could not be written (a loss marker then tells the agent to scan). */
  write(r: SpoolRecordInput): boolean {
    const timeNs = this.#o.nowNs();
    const buf = encodeRecord({ ...r, pid: process.pid, seq: ++this.#seq, timeNs });
    try {
      this.#openFor(timeNs);
      if (this.#o.maxBytes > 0 && this.#hostBytes + buf.length > this.#o.maxBytes) throw new Error('spool over its size cap');
      const n = writeSync(this.#fd, buf);
      if (n !== buf.length) throw new Error('short write');
      this.#hostBytes += n;
      this.written++;
      return true;
    } catch {
      this.lost++;
      this.#recordLoss(timeNs);
      return false;
    }
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    this.#bucket = -1;
  }

  #openFor(timeNs: bigint): void {
    const bucketS = this.#o.bucketS;
    const bucket = Number(timeNs / 1_000_000_000n / BigInt(bucketS)) * bucketS;
    if (bucket === this.#bucket && this.#fd >= 0) return;
    const fd = openSync(join(this.#o.dir, segmentFileName(this.#o.host, bucket)),
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = fd;
    this.#bucket = bucket;
    this.#hostBytes = this.#measure();
  }

  /** The sum of this host's segments, as the shim measures it when it opens a segment. */
  #measure(): number {
    let total = 0;
    const prefix = `${this.#o.host}.`;
    for (const n of readdirSync(this.#o.dir)) {
      if (!n.startsWith(prefix) || !n.endsWith('.seg')) continue;
      try { total += statSync(join(this.#o.dir, n)).size; } catch { /* deleted meanwhile */ }
    }
    return total;
  }

  /** `<host>.loss` holds the earliest unhandled loss time (SPOOL.md "Loss marker"). */
  #recordLoss(timeNs: bigint): void {
    const file = join(this.#o.dir, `${this.#o.host}.loss`);
    try {
      writeFileSync(file, timeNs.toString(), { flag: 'wx', mode: 0o600 });
      return;
    } catch { /* present: keep the earlier time */ }
    try {
      const text = readFileSync(file, 'latin1').trim();
      if (/^\d+$/.test(text) && BigInt(text) <= timeNs) return;
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, timeNs.toString(), { mode: 0o600 });
      renameSync(tmp, file);
    } catch { /* nothing more we can do: the next rescan finds it */ }
  }
}
