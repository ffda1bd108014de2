/**
 * Decoder of hpcm-scan's record stream (native-scan/README.md "Output"): little-endian records,
 * each starting with its total length. Paths stay Buffers: they are bytes, not text.
 */
import { constants as osConstants } from 'node:os';

export type ScanReason = 'list' | 'since' | 'new' | 'changed' | 'extra';
export type ScanEntryType = 'file' | 'dir' | 'symlink' | 'other';
export type ScanDifference = 'type' | 'size' | 'mtime' | 'mode' | 'target' | 'owner';

export interface ScanStat {
  /** Full st_mode (type and permission bits). */
  mode: number;
  nlink: number;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
  uid: number;
  gid: number;
}

export interface ScanEntry {
  reason: ScanReason;
  type: ScanEntryType;
  /** Relative to the scanned root, no leading '/'. */
  relPath: Buffer;
  /** Symlinks (not `extra` ones): the target, verbatim. */
  target?: Buffer;
  /** `changed`: what differs from the destination. */
  differs: ScanDifference[];
  /** The source's stat; for `extra`, the destination's. */
  stat: ScanStat;
}

export interface ScanIssue {
  side: 'source' | 'destination';
  op: 'open' | 'read' | 'stat' | 'readlink';
  /** errno name (EACCES, ...) or the number when unknown. */
  code: string;
  relPath: Buffer;
}

export interface ScanCounters {
  examined: number;
  emitted: number;
  dirs: number;
  errors: number;
}

export interface ProgressRecord extends ScanCounters {
  kind: 'progress';
  queuedDirs: number;
  elapsedNs: bigint;
}

export interface EndRecord extends ScanCounters {
  kind: 'end';
  elapsedNs: bigint;
  maxRssBytes: number;
  skippedParts: number;
  lostDirs: number;
}

export interface PartDoneRecord {
  kind: 'part';
  /** Relative path of the part's directory, empty for the root. */
  key: Buffer;
  examined: number;
}

/** With --dir-records: every entry of this directory has been sent (`complete`: its listing did not fail). */
export interface DirDoneRecord {
  kind: 'dir';
  relPath: Buffer;
  complete: boolean;
  entries: number;
}

export type ScanRecord =
  | ({ kind: 'entry' } & ScanEntry)
  | ProgressRecord
  | PartDoneRecord
  | ({ kind: 'issue' } & ScanIssue)
  | EndRecord
  | DirDoneRecord;

const REASONS: Record<number, ScanReason> = { 1: 'list', 2: 'since', 3: 'new', 4: 'changed', 5: 'extra' };
const TYPES: Record<number, ScanEntryType> = { 0x66: 'file', 0x64: 'dir', 0x6c: 'symlink', 0x6f: 'other' };
const DIFFS: [number, ScanDifference][] = [
  [1, 'type'],
  [2, 'size'],
  [4, 'mtime'],
  [8, 'mode'],
  [16, 'target'],
  [32, 'owner'],
];
const SIDES = ['source', 'destination'] as const;
const OPS: Record<number, ScanIssue['op']> = { 1: 'open', 2: 'read', 3: 'stat', 4: 'readlink' };
const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

const ENTRY_HDR = 72;
/** A sane upper bound; anything larger means the stream is out of step. */
const MAX_RECORD = 16 << 20;

export class RecordStreamError extends Error {
  override readonly name = 'RecordStreamError';
}

function decodeEntry(b: Buffer, o: number, len: number): ScanRecord {
  const pathLen = b.readUInt32LE(o + 64);
  const targetLen = b.readUInt32LE(o + 68);
  if (ENTRY_HDR + pathLen + targetLen !== len) throw new RecordStreamError(`entry record of ${len} bytes has inconsistent lengths`);
  const diffBits = b[o + 7]!;
  const reason = REASONS[b[o + 5]!];
  const type = TYPES[b[o + 6]!];
  if (!reason || !type) throw new RecordStreamError(`entry record with unknown reason ${b[o + 5]} or type ${b[o + 6]}`);
  const start = o + ENTRY_HDR;
  const entry: { kind: 'entry' } & ScanEntry = {
    kind: 'entry',
    reason,
    type,
    // Copies, so that the chunk can be released while entries are still held.
    relPath: Buffer.from(b.subarray(start, start + pathLen)),
    differs: diffBits === 0 ? [] : DIFFS.filter(([bit]) => (diffBits & bit) !== 0).map(([, name]) => name),
    stat: {
      mode: b.readUInt32LE(o + 8),
      nlink: b.readUInt32LE(o + 12),
      size: Number(b.readBigUInt64LE(o + 16)),
      mtimeNs: b.readBigInt64LE(o + 24),
      ctimeNs: b.readBigInt64LE(o + 32),
      ino: b.readBigUInt64LE(o + 40),
      dev: b.readBigUInt64LE(o + 48),
      uid: b.readUInt32LE(o + 56),
      gid: b.readUInt32LE(o + 60),
    },
  };
  if (type === 'symlink' && reason !== 'extra') entry.target = Buffer.from(b.subarray(start + pathLen, start + pathLen + targetLen));
  return entry;
}

function counters(b: Buffer, o: number): ScanCounters {
  return {
    examined: Number(b.readBigUInt64LE(o + 8)),
    emitted: Number(b.readBigUInt64LE(o + 16)),
    dirs: Number(b.readBigUInt64LE(o + 24)),
    errors: Number(b.readBigUInt64LE(o + 32)),
  };
}

function decodeOne(b: Buffer, o: number, len: number): ScanRecord {
  const kind = b[o + 4];
  switch (kind) {
    case 1:
      return decodeEntry(b, o, len);
    case 2:
      return { kind: 'progress', ...counters(b, o), queuedDirs: Number(b.readBigUInt64LE(o + 40)), elapsedNs: b.readBigUInt64LE(o + 48) };
    case 3: {
      const keyLen = b.readUInt32LE(o + 16);
      return { kind: 'part', examined: Number(b.readBigUInt64LE(o + 8)), key: Buffer.from(b.subarray(o + 20, o + 20 + keyLen)) };
    }
    case 4: {
      const errno = b.readUInt32LE(o + 8);
      const pathLen = b.readUInt32LE(o + 12);
      return {
        kind: 'issue',
        side: SIDES[b[o + 5]!] ?? 'source',
        op: OPS[b[o + 6]!] ?? 'read',
        code: ERRNO_NAMES.get(errno) ?? String(errno),
        relPath: Buffer.from(b.subarray(o + 16, o + 16 + pathLen)),
      };
    }
    case 5:
      return {
        kind: 'end',
        ...counters(b, o),
        elapsedNs: b.readBigUInt64LE(o + 40),
        maxRssBytes: Number(b.readBigUInt64LE(o + 48)) * 1024,
        skippedParts: Number(b.readBigUInt64LE(o + 56)),
        lostDirs: Number(b.readBigUInt64LE(o + 64)),
      };
    case 6: {
      const pathLen = b.readUInt32LE(o + 16);
      return {
        kind: 'dir',
        complete: b[o + 5] === 1,
        entries: Number(b.readBigUInt64LE(o + 8)),
        relPath: Buffer.from(b.subarray(o + 24, o + 24 + pathLen)),
      };
    }
    default:
      throw new RecordStreamError(`unknown record kind ${String(kind)}`);
  }
}

/** Feed chunks in order; get whole records back. Holds at most one partial record between chunks. */
export class ScanRecordDecoder {
  #pending: Buffer | undefined;

  push(chunk: Buffer): ScanRecord[] {
    const b = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    const out: ScanRecord[] = [];
    let o = 0;
    while (b.length - o >= 8) {
      const len = b.readUInt32LE(o);
      if (len < 8 || len > MAX_RECORD) throw new RecordStreamError(`record length ${len} out of range`);
      if (b.length - o < len) break;
      out.push(decodeOne(b, o, len));
      o += len;
    }
    if (o < b.length) this.#pending = Buffer.from(b.subarray(o));
    return out;
  }

  /** True when the stream ended in the middle of a record. */
  get hasPartial(): boolean {
    return this.#pending !== undefined && this.#pending.length > 0;
  }
}
