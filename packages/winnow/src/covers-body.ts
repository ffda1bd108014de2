import { coversOf, rangesOf, type SeqSet } from './seq-set.js';

const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The body to forward: the received bytes untouched, plus `hpcm_covers` ([lowest, highest] seq this
 * forward stands for) and, when those seqs are not contiguous, `hpcm_coveredSeqs` ([[lo, hi], ...]).
 * When the body has neither field yet (the usual case) they are spliced in before the closing
 * brace, so every other byte stays as the publisher wrote it.
 */
export function bodyWithCovers(raw: Buffer, parsed: Record<string, unknown>, seqs: SeqSet): Buffer {
  const covers = coversOf(seqs);
  if (covers === undefined) return raw;
  const listed = seqs.length > 2 ? rangesOf(seqs) : undefined;
  if (parsed.hpcm_covers === undefined && parsed.hpcm_coveredSeqs === undefined) {
    let end = raw.length - 1;
    while (end > 0 && isSpace(raw[end])) end--;
    if (raw[end] === 0x7d) {
      let extra = `,"hpcm_covers":[${covers[0]},${covers[1]}]`;
      if (listed) extra += `,"hpcm_coveredSeqs":${JSON.stringify(listed)}`;
      // ASCII only: one byte per character.
      const out = Buffer.allocUnsafe(raw.length + extra.length);
      raw.copy(out, 0, 0, end);
      out.write(extra, end, 'latin1');
      raw.copy(out, end + extra.length, end);
      return out;
    }
  }
  const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  body.hpcm_covers = covers;
  if (listed) body.hpcm_coveredSeqs = listed;
  else delete body.hpcm_coveredSeqs;
  return Buffer.from(JSON.stringify(body));
}
