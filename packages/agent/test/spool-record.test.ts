import { describe, expect, it } from 'vitest';
import {
  crc32,
  decodeRecords,
  encodeRecord,
  RECORD_HEADER_BYTES,
  RecordFlag,
  type RecordInput,
} from '../src/spool/record.js';

const stat = { size: 5n, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: -1n, ino: 2n ** 63n + 7n, dev: 2049n, mode: 0o100644, nlink: 2 };

const sample = (i: number, extra: Partial<RecordInput> = {}): RecordInput => ({
  op: 'CLOSE_W',
  seq: i,
  pid: 4242,
  timeNs: 1_795_000_000_000_000_000n + BigInt(i),
  stat,
  path: Buffer.from(`/fs/primary/f${i}`),
  ...extra,
});

describe('spool record codec', () => {
  it('computes zlib-compatible CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('round-trips every field, raw path bytes and 64-bit values', () => {
    const raw = Buffer.from([0x2f, 0x66, 0xff, 0xfe, 0x80, 0x0a]);
    const buf = Buffer.concat([
      encodeRecord(sample(1)),
      encodeRecord({ op: 'RENAME', pid: 7, path: raw, path2: Buffer.from('/old'), flags: RecordFlag.EXCHANGE }),
      encodeRecord({ op: 'EXIT', pid: 8, path: Buffer.alloc(0) }),
    ]);
    const { records, next, skipped } = decodeRecords(buf);
    expect(skipped).toBe(0);
    expect(next).toBe(buf.length);
    expect(records.map((r) => r.op)).toEqual(['CLOSE_W', 'RENAME', 'EXIT']);
    expect(records[0]!.stat).toEqual(stat);
    expect(records[0]!.flags & RecordFlag.STAT).toBe(RecordFlag.STAT);
    expect(records[0]!.timeNs).toBe(1_795_000_000_000_000_001n);
    expect(records[1]!.path.equals(raw)).toBe(true);
    expect(records[1]!.path2?.toString()).toBe('/old');
    expect(records[1]!.stat).toBeUndefined();
    expect(records[1]!.flags & RecordFlag.EXCHANGE).toBeTruthy();
    expect(records[2]!.path.length).toBe(0);
    expect(records[2]!.path2).toBeUndefined();
    expect(records[2]!.length).toBe(RECORD_HEADER_BYTES);
  });

  it('holds the longest paths (4096 + 4096 bytes)', () => {
    const p = Buffer.alloc(4096, 0x61);
    const buf = encodeRecord({ op: 'RENAME', pid: 1, path: p, path2: p });
    expect(buf.length).toBe(RECORD_HEADER_BYTES + 8192);
    expect(decodeRecords(buf).records[0]!.path2!.equals(p)).toBe(true);
    expect(() => encodeRecord({ op: 'UNLINK', pid: 1, path: Buffer.alloc(4097) })).toThrow(RangeError);
  });

  it('stops before an incomplete record and resumes there', () => {
    const a = encodeRecord(sample(1));
    const b = encodeRecord(sample(2));
    const whole = Buffer.concat([a, b]);
    for (const cut of [a.length + 1, a.length + 7, a.length + 50, whole.length - 1]) {
      const first = decodeRecords(whole.subarray(0, cut));
      expect(first.records).toHaveLength(1);
      expect(first.next).toBe(a.length);
      expect(first.skipped).toBe(0);
      const rest = decodeRecords(whole, first.next);
      expect(rest.records.map((r) => r.seq)).toEqual([2]);
    }
  });

  it('treats an incomplete tail as corrupt once the segment is final', () => {
    const a = encodeRecord(sample(1));
    const buf = Buffer.concat([a, encodeRecord(sample(2)).subarray(0, 40)]);
    const r = decodeRecords(buf, 0, { final: true });
    expect(r.records).toHaveLength(1);
    expect(r.skipped).toBe(1);
    expect(r.next).toBe(buf.length);
  });

  it('skips garbage, a bad CRC and a truncated record, and resynchronises on the next magic', () => {
    const good1 = encodeRecord(sample(1));
    const badCrc = encodeRecord(sample(2));
    badCrc.writeUInt8(badCrc.readUInt8(RECORD_HEADER_BYTES + 3) ^ 0xff, RECORD_HEADER_BYTES + 3);
    const truncated = encodeRecord(sample(3)).subarray(0, 60); // a write cut short by a full disk
    const good2 = encodeRecord(sample(4));
    const garbage = Buffer.from('not a record at all \x00\x01\x02');
    const buf = Buffer.concat([garbage, good1, badCrc, truncated, good2]);
    const r = decodeRecords(buf);
    expect(r.records.map((x) => x.seq)).toEqual([1, 4]);
    expect(r.skipped).toBe(3);
    expect(r.skippedBytes).toBe(garbage.length + badCrc.length + truncated.length);
    expect(r.next).toBe(buf.length);
  });

  it('rejects impossible lengths and unknown ops', () => {
    const bad = encodeRecord(sample(1));
    bad.writeUInt32LE(12, 4);
    const op = encodeRecord(sample(2));
    op.writeUInt16LE(99, 14);
    op.writeUInt32LE(crc32(op.subarray(12)), 8);
    const r = decodeRecords(Buffer.concat([bad, op, encodeRecord(sample(3))]));
    expect(r.records.map((x) => x.seq)).toEqual([3]);
    expect(r.skipped).toBe(2);
  });

  it('keeps a possible magic prefix at the end of garbage for the next read', () => {
    const rec = encodeRecord(sample(5));
    const buf = Buffer.concat([Buffer.from('xxxxxxxx'), rec.subarray(0, 3)]);
    const r = decodeRecords(buf);
    expect(r.records).toHaveLength(0);
    expect(r.next).toBe(8);
    const again = decodeRecords(Buffer.concat([buf, rec.subarray(3)]), r.next);
    expect(again.records.map((x) => x.seq)).toEqual([5]);
  });
});
