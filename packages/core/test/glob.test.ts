import { describe, expect, it } from 'vitest';
import { AcceptRejectFilter as PathFilter } from '../src/index.js';

const p = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s) : s);

describe('PathFilter', () => {
  it('matches patterns without / against the last component', () => {
    const f = new PathFilter([], ['*.tmp', '.#*']);
    expect(f.rejectedBy(p('/fs/primary/run/a.tmp'))).toBe('matches reject pattern *.tmp');
    expect(f.rejectedBy(p('/fs/primary/run/.#lock'))).toMatch(/\.#\*/);
    expect(f.rejectedBy(p('/fs/primary/run.tmp/a.grib'))).toBeUndefined();
  });

  it('matches patterns with / against the whole path; ** crosses components, * does not', () => {
    const f = new PathFilter([], ['/fs/primary/scratch/**', '/fs/primary/*/core']);
    expect(f.rejectedBy(p('/fs/primary/scratch/a/b/c'))).toBeDefined();
    expect(f.rejectedBy(p('/fs/primary/run/core'))).toBeDefined();
    expect(f.rejectedBy(p('/fs/primary/run/x/core'))).toBeUndefined();
    expect(new PathFilter([], ['/fs/**/core']).rejectedBy(p('/fs/core'))).toBeDefined();
  });

  it('takes only accepted paths when accept patterns are given; reject wins', () => {
    const f = new PathFilter(['*.grib', '*.nc'], ['bad.grib']);
    expect(f.rejectedBy(p('/a/b.grib'))).toBeUndefined();
    expect(f.rejectedBy(p('/a/b.txt'))).toBe('matches no accept pattern');
    expect(f.rejectedBy(p('/a/bad.grib'))).toBeDefined();
  });

  it('handles ? and [classes], and matches non-UTF-8 names byte for byte', () => {
    const f = new PathFilter([], ['run?.log', 'x[0-9].dat', 'é*']);
    expect(f.rejectedBy(p('/a/run1.log'))).toBeDefined();
    expect(f.rejectedBy(p('/a/run12.log'))).toBeUndefined();
    expect(f.rejectedBy(p('/a/x7.dat'))).toBeDefined();
    expect(f.rejectedBy(p('/a/xa.dat'))).toBeUndefined();
    expect(f.rejectedBy(Buffer.concat([p('/a/'), Buffer.from('é', 'utf8'), Buffer.from([0xff])]))).toBeDefined();
    expect(f.rejectedBy(Buffer.from([0x2f, 0xe9, 0x41]))).toBeUndefined();
  });
});
