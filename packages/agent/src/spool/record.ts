import * as zlib from 'node:zlib';

/**
 * Spool records as the shim writes them (native-shim/SPOOL.md): a 96-byte little-endian header,
 * then `path` and `path2` bytes. Paths stay Buffers (bytes are bytes); 64-bit stat and time fields
 * are bigints; `seq`, `pid`, `flags`, `mode`, `nlink` are numbers.
 */

export const RECORD_MAGIC = 0x524d5048;
export const RECORD_VERSION = 1;
export const RECORD_HEADER_BYTES = 96;
export const RECORD_PATH_MAX = 4096;
export const RECORD_MAX_BYTES = RECORD_HEADER_BYTES + 2 * RECORD_PATH_MAX;

const OPS = ['OPEN_W', 'CLOSE_W', 'RENAME', 'LINK', 'SYMLINK', 'UNLINK', 'MKDIR', 'RMDIR', 'META', 'EXIT', 'CHANGED'] as const;
export type SpoolOp = (typeof OPS)[number];

export const opCode = (op: SpoolOp): number => OPS.indexOf(op) + 1;

/** Header `flags` bits. */
export const RecordFlag = {
  /** stat fields are valid */
  STAT: 1,
  DIR: 2,
  SYMLINK: 4,
  /** RENAME with RENAME_EXCHANGE: both paths now hold each other's former content */
  EXCHANGE: 8,
  /** `path` is outside every root or rejected by the filters (RENAME) */
  PATH_OUT: 16,
  /** `path2` is outside every root or rejected by the filters (RENAME, LINK) */
  PATH2_OUT: 32,
  /** CLOSE_W of an fd opened without O_CREAT/O_TRUNC whose file did not change: not dirty */
  UNCHANGED: 64,
  /** RENAME with RENAME_NOREPLACE */
  NOREPLACE: 128,
} as const;

export interface RecordStat {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  /** st_mode: type and permission bits */
  mode: number;
  nlink: number;
}

export interface SpoolRecord {
  op: SpoolOp;
  /** per-writer sequence, 1-based per process; 0 from a vfork child sharing its parent's memory */
  seq: number;
  pid: number;
  flags: number;
  /** CLOCK_REALTIME when the shim saw the event */
  timeNs: bigint;
  /** present when flags has STAT */
  stat: RecordStat | undefined;
  path: Buffer;
  /** rename: old path; link: existing path; symlink: target verbatim; undefined when empty */
  path2: Buffer | undefined;
  /** where the record starts in the decoded buffer, and its total length */
  offset: number;
  length: number;
}

export type RecordInput = Omit<SpoolRecord, 'offset' | 'length' | 'flags' | 'seq' | 'stat' | 'path2' | 'timeNs'> & {
  flags?: number;
  seq?: number;
  timeNs?: bigint;
  stat?: RecordStat | undefined;
  path2?: Buffer | undefined;
};

export interface DecodeResult {
  records: SpoolRecord[];
  /** offset of the first byte not consumed: an incomplete record's start, or the buffer's end */
  next: number;
  /** corrupt stretches skipped (each one a lost record or more) */
  skipped: number;
  skippedBytes: number;
}

export interface DecodeOptions {
  /**
   * The buffer holds the whole segment and nothing more will be appended (its bucket is over):
   * an incomplete tail is corrupt, not pending.
   */
  final?: boolean;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export function crc32(data: Uint8Array): number {
  if (zlibCrc32) return zlibCrc32(data) >>> 0;
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const MAGIC_BYTES = Buffer.from([0x48, 0x50, 0x4d, 0x52]);

/** the record starting at pos, 'incomplete' when more bytes are needed, or 'corrupt' */
function decodeAt(buf: Buffer, pos: number): SpoolRecord | 'incomplete' | 'corrupt' {
  const avail = buf.length - pos;
  if (avail < 8) return 'incomplete';
  const length = buf.readUInt32LE(pos + 4);
  if (length < RECORD_HEADER_BYTES || length > RECORD_MAX_BYTES) return 'corrupt';
  if (avail < length) return 'incomplete';
  const version = buf.readUInt16LE(pos + 12);
  const opNum = buf.readUInt16LE(pos + 14);
  const pathLen = buf.readUInt16LE(pos + 88);
  const path2Len = buf.readUInt16LE(pos + 90);
  if (version !== RECORD_VERSION || opNum < 1 || opNum > OPS.length) return 'corrupt';
  if (pathLen > RECORD_PATH_MAX || path2Len > RECORD_PATH_MAX || RECORD_HEADER_BYTES + pathLen + path2Len !== length) {
    return 'corrupt';
  }
  if (crc32(buf.subarray(pos + 12, pos + length)) !== buf.readUInt32LE(pos + 8)) return 'corrupt';
  const flags = buf.readUInt32LE(pos + 28);
  const pathStart = pos + RECORD_HEADER_BYTES;
  return {
    op: OPS[opNum - 1]!,
    seq: Number(buf.readBigUInt64LE(pos + 16)),
    pid: buf.readUInt32LE(pos + 24),
    flags,
    timeNs: buf.readBigInt64LE(pos + 32),
    stat:
      flags & RecordFlag.STAT
        ? {
            size: buf.readBigUInt64LE(pos + 40),
            mtimeNs: buf.readBigInt64LE(pos + 48),
            ctimeNs: buf.readBigInt64LE(pos + 56),
            ino: buf.readBigUInt64LE(pos + 64),
            dev: buf.readBigUInt64LE(pos + 72),
            mode: buf.readUInt32LE(pos + 80),
            nlink: buf.readUInt32LE(pos + 84),
          }
        : undefined,
    path: Buffer.from(buf.subarray(pathStart, pathStart + pathLen)),
    path2: path2Len ? Buffer.from(buf.subarray(pathStart + pathLen, pathStart + pathLen + path2Len)) : undefined,
    offset: pos,
    length,
  };
}

/**
 * Decodes every complete record from `offset` on. Corrupt bytes (bad magic, length, CRC) are
 * skipped by scanning for the next magic; `next` is where a tail reader resumes once the file grew.
 */
export function decodeRecords(buf: Buffer, offset = 0, opts: DecodeOptions = {}): DecodeResult {
  const records: SpoolRecord[] = [];
  let pos = offset;
  let skipped = 0;
  let skippedBytes = 0;
  const skipTo = (to: number): void => {
    skipped++;
    skippedBytes += to - pos;
    pos = to;
  };
  while (pos < buf.length) {
    if (buf.length - pos >= 4 && buf.readUInt32LE(pos) !== RECORD_MAGIC) {
      const at = buf.indexOf(MAGIC_BYTES, pos + 1);
      if (at >= 0) {
        skipTo(at);
        continue;
      }
      // the last 3 bytes may be the start of a magic still being written
      const keep = opts.final ? buf.length : Math.max(pos, buf.length - 3);
      if (keep > pos) skipTo(keep);
      break;
    }
    const r = decodeAt(buf, pos);
    if (r === 'incomplete' && !opts.final) break;
    if (r === 'incomplete' || r === 'corrupt') {
      const at = buf.indexOf(MAGIC_BYTES, pos + 1);
      skipTo(at >= 0 ? at : buf.length);
      continue;
    }
    records.push(r);
    pos += r.length;
  }
  return { records, next: pos, skipped, skippedBytes };
}

/** Encodes one record exactly as the shim does (tests, tools). */
export function encodeRecord(r: RecordInput): Buffer {
  const path2 = r.path2 ?? Buffer.alloc(0);
  if (r.path.length > RECORD_PATH_MAX || path2.length > RECORD_PATH_MAX) throw new RangeError('path longer than 4096 bytes');
  const length = RECORD_HEADER_BYTES + r.path.length + path2.length;
  const b = Buffer.alloc(length);
  let flags = (r.flags ?? 0) >>> 0;
  flags = r.stat ? flags | RecordFlag.STAT : flags & ~RecordFlag.STAT;
  b.writeUInt32LE(RECORD_MAGIC, 0);
  b.writeUInt32LE(length, 4);
  b.writeUInt16LE(RECORD_VERSION, 12);
  b.writeUInt16LE(opCode(r.op), 14);
  b.writeBigUInt64LE(BigInt(r.seq ?? 0), 16);
  b.writeUInt32LE(r.pid >>> 0, 24);
  b.writeUInt32LE(flags >>> 0, 28);
  b.writeBigInt64LE(r.timeNs ?? 0n, 32);
  if (r.stat) {
    b.writeBigUInt64LE(r.stat.size, 40);
    b.writeBigInt64LE(r.stat.mtimeNs, 48);
    b.writeBigInt64LE(r.stat.ctimeNs, 56);
    b.writeBigUInt64LE(r.stat.ino, 64);
    b.writeBigUInt64LE(r.stat.dev, 72);
    b.writeUInt32LE(r.stat.mode >>> 0, 80);
    b.writeUInt32LE(r.stat.nlink >>> 0, 84);
  }
  b.writeUInt16LE(r.path.length, 88);
  b.writeUInt16LE(path2.length, 90);
  r.path.copy(b, RECORD_HEADER_BYTES);
  path2.copy(b, RECORD_HEADER_BYTES + r.path.length);
  b.writeUInt32LE(crc32(b.subarray(12)), 8);
  return b;
}
