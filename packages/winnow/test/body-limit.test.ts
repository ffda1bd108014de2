import { describe, expect, it } from 'vitest';
import { fitBody } from '../src/body-limit.js';
import { bodyWithCovers } from '../src/covers-body.js';

describe('fitBody', () => {
  const inline = { relPath: 'a/b', size: 3000, content: { encoding: 'base64', value: 'x'.repeat(4000) } };

  it('forwards a body within the limit byte for byte, inline content included', () => {
    const raw = Buffer.from(JSON.stringify(inline));
    expect(fitBody(raw, raw.length)).toBe(raw);
  });

  it('drops inline content when the covers pushed the body over the limit (the subscriber fetches instead)', () => {
    const raw = Buffer.from(JSON.stringify(inline));
    const covered = bodyWithCovers(raw, inline, [1, 3, 5, 7, 9, 11]);
    const out = JSON.parse(fitBody(covered, raw.length).toString());
    expect(out).toEqual({ relPath: 'a/b', size: 3000, hpcm_covers: [1, 11], hpcm_coveredSeqs: [[1, 3], [5, 7], [9, 11]] });
  });

  it('leaves an oversized body without content as it is (the subscriber parks it with a reason)', () => {
    const raw = Buffer.from(JSON.stringify({ relPath: 'a/b', big: 'y'.repeat(100) }));
    expect(fitBody(raw, 50)).toBe(raw);
  });
});
