import { describe, expect, it } from 'vitest';
import { globToRegExp } from '@hpcmirror/core';
import { PathFilter } from '../src/changes/path-filter.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('globToRegExp', () => {
  it('keeps * and ? within a component and lets ** cross them', () => {
    expect(globToRegExp('*.tmp').test('a.tmp')).toBe(true);
    expect(globToRegExp('*.tmp').test('d/a.tmp')).toBe(false);
    expect(globToRegExp('/fs/**/x').test('/fs/x')).toBe(true);
    expect(globToRegExp('/fs/**/x').test('/fs/a/b/x')).toBe(true);
    expect(globToRegExp('/fs/**').test('/fs/a/b')).toBe(true);
    expect(globToRegExp('a?c').test('abc')).toBe(true);
    expect(globToRegExp('a?c').test('a/c')).toBe(false);
    expect(globToRegExp('[!.]*').test('.hidden')).toBe(false);
    expect(globToRegExp('[a-c]x').test('bx')).toBe(true);
    expect(globToRegExp('a.b').test('aXb')).toBe(false);
  });
});

describe('PathFilter', () => {
  const f = new PathFilter(b('/fs/primary'), [], ['*.tmp', '**/scratch/**', '/fs/primary/big/*.dat']);

  it('accepts only paths under source_root', () => {
    expect(f.accepts(b('/fs/primary/a'))).toBe(true);
    expect(f.accepts(b('/fs/primary'))).toBe(true);
    expect(f.accepts(b('/fs/primaryx/a'))).toBe(false);
    expect(f.accepts(b('/etc/passwd'))).toBe(false);
  });

  it('applies reject globs to the name (no slash) or to the absolute path', () => {
    expect(f.accepts(b('/fs/primary/run/a.tmp'))).toBe(false);
    expect(f.accepts(b('/fs/primary/scratch/x/y'))).toBe(false);
    expect(f.accepts(b('/fs/primary/big/a.dat'))).toBe(false);
    expect(f.accepts(b('/fs/primary/big/sub/a.dat'))).toBe(true);
  });

  it('with accept globs, announces only what matches one (reject still wins)', () => {
    const g = new PathFilter(b('/fs/primary'), ['*.grib', '*.tmp'], ['*.tmp']);
    expect(g.accepts(b('/fs/primary/a.grib'))).toBe(true);
    expect(g.accepts(b('/fs/primary/a.txt'))).toBe(false);
    expect(g.accepts(b('/fs/primary/a.tmp'))).toBe(false);
  });

  it('matches non-UTF-8 names byte for byte', () => {
    const g = new PathFilter(b('/r'), [], ['*\u00e9']);
    expect(g.accepts(Buffer.concat([b('/r/caf'), Buffer.from('é')]))).toBe(false);
    expect(g.accepts(Buffer.from([0x2f, 0x72, 0x2f, 0xff, 0xfe]))).toBe(true);
  });
});
