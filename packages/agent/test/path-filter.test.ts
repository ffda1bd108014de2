import { describe, expect, it } from 'vitest';
import { globMatch } from '@hpcmirror/core';
import { PathFilter } from '../src/changes/path-filter.js';

const b = (s: string): Buffer => Buffer.from(s);

const m = (pattern: string, s: string): boolean => globMatch(Buffer.from(pattern), Buffer.from(s));

// the full table of cases is test/fixtures/path-globs.json (packages/core, native-shim)
describe('globMatch', () => {
  it('keeps * and ? within a component and lets ** cross them', () => {
    expect(m('*.tmp', 'a.tmp')).toBe(true);
    expect(m('*.tmp', 'd/a.tmp')).toBe(false);
    expect(m('/fs/**/x', '/fs/x')).toBe(true);
    expect(m('/fs/**/x', '/fs/a/b/x')).toBe(true);
    expect(m('/fs/**', '/fs/a/b')).toBe(true);
    expect(m('a?c', 'abc')).toBe(true);
    expect(m('a?c', 'a/c')).toBe(false);
    expect(m('[!.]*', '.hidden')).toBe(false);
    expect(m('[a-c]x', 'bx')).toBe(true);
    expect(m('a.b', 'aXb')).toBe(false);
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
