import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PathCodecError, decodePath, encodePath } from '../src/remote-helper/path-codec.js';
import { formatStat, parseStat, StatCodecError } from '../src/remote-helper/stat-codec.js';
import type { SourceStat } from '../src/transports/transport.js';

describe('helper path encoding', () => {
  it('round-trips every byte and never emits space, newline or a non-ASCII char', () => {
    const all = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1));
    for (const path of [all, Buffer.from('/plain/path.txt'), Buffer.from([0x66, 0xff, 0x66]), Buffer.from('%25 %'), randomBytes(5000)]) {
      const text = encodePath(path);
      expect(text).toMatch(/^[\x21-\x7e]+$/);
      expect(decodePath(text).equals(path)).toBe(true);
    }
    expect(encodePath(Buffer.from('a b\nc%'))).toBe('a%20b%0Ac%25');
    expect(encodePath(Buffer.from('/fs/a.grib'))).toBe('/fs/a.grib');
  });

  it('rejects what the encoder cannot produce', () => {
    for (const bad of ['', 'a b', '%', '%4', '%zz', 'é', 'a\nb']) {
      expect(() => decodePath(bad), bad).toThrow(PathCodecError);
    }
    expect(decodePath('%6a').toString()).toBe('j');
  });
});

describe('helper stat encoding', () => {
  it('round-trips a stat with 64-bit inode and nanosecond times', () => {
    const stat: SourceStat = {
      type: 'symlink',
      size: 2 ** 40 + 3,
      mode: 0o4755,
      mtimeNs: 1_795_435_200_123_456_789n,
      ctimeNs: 1_795_435_201_000_000_001n,
      ino: 18_446_744_073_709_551_615n,
      dev: 2049n,
      nlink: 3,
      uid: 1000,
      gid: 4294967294,
      nsPrecision: true,
    };
    const fields = formatStat(stat).split(' ');
    expect(fields).toHaveLength(10);
    expect(parseStat(fields, 0)).toEqual(stat);
  });

  it('rejects malformed fields', () => {
    expect(() => parseStat('x 1 644 1 1 1 1 1 0 0'.split(' '), 0)).toThrow(StatCodecError);
    expect(() => parseStat('f 1 999 1 1 1 1 1 0 0'.split(' '), 0)).toThrow(StatCodecError);
    expect(() => parseStat('f 1 644 1.5 1 1 1 1 0 0'.split(' '), 0)).toThrow(StatCodecError);
    expect(() => parseStat('f 1 644 1 1 1 1 1 0'.split(' '), 0)).toThrow(StatCodecError);
  });
});
