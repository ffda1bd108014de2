import { describe, expect, it } from 'vitest';
import { describeScanProgress, excludeMatcher, parseSinceTime, progressFrom, ScanRecordDecoder, toAnnounceFact, type ScanEntry } from '../src/scan/index.js';

function entryRecord(path: Buffer, target: Buffer, reason = 4, type = 0x6c, diff = 0x10): Buffer {
  const r = Buffer.alloc(72 + path.length + target.length);
  r.writeUInt32LE(r.length, 0);
  r[4] = 1;
  r[5] = reason;
  r[6] = type;
  r[7] = diff;
  r.writeUInt32LE(0o120777, 8);
  r.writeUInt32LE(1, 12);
  r.writeBigUInt64LE(BigInt(target.length), 16);
  r.writeBigInt64LE(1_700_000_000_123_456_789n, 24);
  r.writeBigInt64LE(1_700_000_001_000_000_001n, 32);
  r.writeBigUInt64LE(42n, 40);
  r.writeBigUInt64LE(2049n, 48);
  r.writeUInt32LE(1000, 56);
  r.writeUInt32LE(100, 60);
  r.writeUInt32LE(path.length, 64);
  r.writeUInt32LE(target.length, 68);
  path.copy(r, 72);
  target.copy(r, 72 + path.length);
  return r;
}

function partRecord(k: Buffer, examined: number): Buffer {
  const r = Buffer.alloc(20 + k.length);
  r.writeUInt32LE(r.length, 0);
  r[4] = 3;
  r.writeBigUInt64LE(BigInt(examined), 8);
  r.writeUInt32LE(k.length, 16);
  k.copy(r, 20);
  return r;
}

describe('scan record stream', () => {
  const path = Buffer.from([0x64, 0x2f, 0xff, 0x0a, 0x6c]);
  const stream = Buffer.concat([entryRecord(path, Buffer.from('t\narget')), partRecord(Buffer.from('d'), 7), entryRecord(Buffer.from('x'), Buffer.alloc(0), 5, 0x64, 0)]);

  it('decodes the same records whatever the chunk boundaries', () => {
    const whole = new ScanRecordDecoder().push(stream);
    expect(whole).toHaveLength(3);
    expect(whole[0]).toMatchObject({
      kind: 'entry',
      reason: 'changed',
      type: 'symlink',
      relPath: path,
      target: Buffer.from('t\narget'),
      differs: ['target'],
      stat: { mode: 0o120777, size: 7, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: 1_700_000_001_000_000_001n, ino: 42n, dev: 2049n, uid: 1000, gid: 100 },
    });
    expect(whole[1]).toEqual({ kind: 'part', key: Buffer.from('d'), examined: 7 });
    expect(whole[2]).toMatchObject({ kind: 'entry', reason: 'extra', type: 'dir', relPath: Buffer.from('x') });
    for (let step = 1; step < 20; step += 3) {
      const d = new ScanRecordDecoder();
      const got = [];
      for (let i = 0; i < stream.length; i += step) got.push(...d.push(stream.subarray(i, i + step)));
      expect(got).toEqual(whole);
      expect(d.hasPartial).toBe(false);
    }
  });

  it('refuses a stream out of step', () => {
    const bad = Buffer.alloc(16);
    bad.writeUInt32LE(3, 0);
    expect(() => new ScanRecordDecoder().push(bad)).toThrow(/out of range/);
  });
});

describe('announce facts', () => {
  const stat = { mode: 0o100644, nlink: 1, size: 1, mtimeNs: 1n, ctimeNs: 1n, ino: 1n, dev: 1n, uid: 0, gid: 0 };
  const entry = (over: Partial<ScanEntry>): ScanEntry => ({ reason: 'new', type: 'file', relPath: Buffer.from('a/b'), differs: [], stat, ...over });

  it('maps entries to what the publisher announces', () => {
    expect(toAnnounceFact(entry({}), '/fs/primary/')).toMatchObject({ kind: 'content', path: Buffer.from('/fs/primary/a/b'), stat });
    expect(toAnnounceFact(entry({ type: 'dir', reason: 'since' }), '/fs/primary')?.kind).toBe('mkdir');
    expect(toAnnounceFact(entry({ type: 'symlink', target: Buffer.from('x') }), '/r')).toMatchObject({ kind: 'symlink', linkTarget: Buffer.from('x') });
    expect(toAnnounceFact(entry({ reason: 'extra' }), '/r')).toMatchObject({ kind: 'remove', path: Buffer.from('/r/a/b') });
    expect(toAnnounceFact(entry({ reason: 'extra', type: 'dir' }), '/r')?.kind).toBe('rmdir');
    expect(toAnnounceFact(entry({ type: 'other' }), '/r')).toBeUndefined();
    expect(toAnnounceFact(entry({}), '/')?.path).toEqual(Buffer.from('/a/b'));
  });
});

describe('--since TIME', () => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5);
  it('reads ages, v03 times, ISO dates and epoch seconds, to the nanosecond', () => {
    expect(parseSinceTime('2h', now)).toBe(BigInt(now - 7_200_000) * 1_000_000n);
    expect(parseSinceTime('20260102T030405.123456789')).toBe(BigInt(now) * 1_000_000n + 123_456_789n);
    expect(parseSinceTime('2026-01-02T03:04:05.123456789Z')).toBe(BigInt(now) * 1_000_000n + 123_456_789n);
    expect(parseSinceTime('@1700000000.5')).toBe(1_700_000_000_500_000_000n);
  });
  it('names the problem when it cannot', () => {
    expect(() => parseSinceTime('yesterday')).toThrow(/--since: cannot read "yesterday"/);
  });
});

describe('exclude globs (as the walker matches them)', () => {
  const m = excludeMatcher(['.hpcm.????????????????', '*.tmp', 'keep/[!x]*/deep', 'a\\*b']);
  const t = (rel: string): boolean => {
    const p = Buffer.from(rel, 'latin1');
    return m(p.subarray(p.lastIndexOf(0x2f) + 1), p);
  };
  it('matches names without a slash and relative paths with one, * staying within a component', () => {
    expect(t('d/.hpcm.0123456789abcdef')).toBe(true);
    expect(t('d/.hpcm.0123')).toBe(false);
    expect(t('x/y.tmp')).toBe(true);
    expect(t('keep/abc/deep')).toBe(true);
    expect(t('keep/xbc/deep')).toBe(false);
    expect(t('keep/a/b/deep')).toBe(false);
    expect(t('a*b')).toBe(true);
    expect(t('axb')).toBe(false);
    expect(t('n\xff.tmp')).toBe(true);
  });
});

describe('progress', () => {
  it('gives files/s and, with a previous total, an ETA and a one-line description', () => {
    const p = progressFrom({ kind: 'progress', examined: 100_000, emitted: 3, dirs: 10, errors: 1, queuedDirs: 5, elapsedNs: 2_000_000_000n }, 50_000, 1_150_000);
    expect(p).toMatchObject({ examinedTotal: 150_000, filesPerSecond: 50_000, fraction: 150_000 / 1_150_000, etaMs: 20_000 });
    expect(describeScanProgress(p, 2)).toBe('150,000 examined  50,000 files/s  2 announced  1 unreadable  ETA 20s');
    expect(describeScanProgress(progressFrom({ examined: 10, emitted: 0, dirs: 1, errors: 0, elapsedNs: 0n }, 0))).toBe('10 examined  0 files/s  0 found');
  });
});
