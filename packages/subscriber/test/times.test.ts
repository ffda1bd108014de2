import { mkdtempSync, openSync, closeSync, futimesSync, fstatSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MTIME_PRECISION_NS, sameMtime, truncateNs, utimeSeconds } from '../src/dest/times.js';

describe('mtime precision', () => {
  it('sets every microsecond exactly through futimes (ns below it are dropped)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcm-times-'));
    const fd = openSync(join(dir, 'f'), 'w');
    try {
      for (const ns of [1_700_000_000_123_456_789n, 1_700_000_000_000_000_999n, 1_700_000_000_999_999_999n, 2_000_000_000_000_001_000n, 0n, 5_000n]) {
        futimesSync(fd, 1, utimeSeconds(ns));
        expect(fstatSync(fd, { bigint: true }).mtimeNs).toBe(truncateNs(ns));
      }
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('compares at the precision achieved', () => {
    expect(MTIME_PRECISION_NS).toBe(1000n);
    expect(sameMtime(1_000_000_123_456_789n, 1_000_000_123_456_001n)).toBe(true);
    expect(sameMtime(1_000_000_123_456_789n, 1_000_000_123_457_000n)).toBe(false);
    expect(sameMtime(1_999_999_999n, 1_000_000_000n, 1_000_000_000n)).toBe(true);
    expect(truncateNs(-1n)).toBe(-1000n);
  });
});
