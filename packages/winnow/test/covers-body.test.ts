import { describe, expect, it } from 'vitest';
import { bodyWithCovers } from '../src/covers-body.js';

describe('bodyWithCovers', () => {
  it('splices hpcm_covers in and keeps every other byte', () => {
    const raw = Buffer.from('{"relPath":"a/b","size":"12","x":{"y":1}}\n');
    const out = bodyWithCovers(raw, JSON.parse(raw.toString()), [7, 7]);
    expect(out.toString()).toBe('{"relPath":"a/b","size":"12","x":{"y":1},"hpcm_covers":[7,7]}\n');
  });

  it('lists the exact seqs when they are not contiguous', () => {
    const raw = Buffer.from('{"relPath":"a/b"}');
    const body = JSON.parse(bodyWithCovers(raw, { relPath: 'a/b' }, [3, 3, 5, 9]).toString());
    expect(body).toEqual({ relPath: 'a/b', hpcm_covers: [3, 9], hpcm_coveredSeqs: [[3, 3], [5, 9]] });
  });

  it('replaces covers a message already had', () => {
    const parsed = { relPath: 'a/b', hpcm_covers: [1, 4], hpcm_coveredSeqs: [[1, 1], [4, 4]] };
    const body = JSON.parse(bodyWithCovers(Buffer.from(JSON.stringify(parsed)), parsed, [1, 9]).toString());
    expect(body).toEqual({ relPath: 'a/b', hpcm_covers: [1, 9] });
  });

  it('leaves a message without seqs untouched', () => {
    const raw = Buffer.from('{"relPath":"a/b"}');
    expect(bodyWithCovers(raw, { relPath: 'a/b' }, [])).toBe(raw);
  });
});
