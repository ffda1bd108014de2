import { describe, expect, it } from 'vitest';
import { silentLogger, type Publisher } from '@hpcmirror/core';
import { mergeRanges, ProgressReporter, seqsOf } from '../src/progress-reporter.js';

describe('progress ranges', () => {
  it('merges overlapping and adjacent ranges', () => {
    expect(mergeRanges([[5, 5], [1, 3], [4, 4], [7, 9], [8, 12], [20, 20]])).toEqual([[1, 5], [7, 12], [20, 20]]);
  });

  it('reads hpcm_seq plus hpcm_covers, or the exact hpcm_coveredSeqs', () => {
    expect(seqsOf({ hpcm_host: 'h', hpcm_seq: 7 })).toEqual({ host: 'h', seqs: [[7, 7]] });
    expect(seqsOf({ hpcm_host: 'h', hpcm_seq: 20, hpcm_covers: [10, 20] })).toEqual({ host: 'h', seqs: [[10, 20]] });
    expect(seqsOf({ hpcm_host: 'h', hpcm_seq: 9, hpcm_covers: [1, 9], hpcm_coveredSeqs: [[1, 2], [4, 4], [9, 9]] })).toEqual({ host: 'h', seqs: [[1, 2], [4, 4], [9, 9]] });
    expect(seqsOf({ hpcm_host: 'h', hpcm_seq: 9, hpcm_covers: [1, 9], hpcm_coveredSeqs: [1, 4, 9] })).toEqual({ host: 'h', seqs: [[1, 1], [4, 4], [9, 9]] });
    expect(seqsOf({ hpcm_seq: 3 })).toBeNull();
    expect(seqsOf({ hpcm_host: 'h', hpcm_seq: -1 })).toBeNull();
  });
});

describe('ProgressReporter', () => {
  const fakePublisher = (delayMs: number) => {
    const sent: { exchange: string; key: string; body: Record<string, unknown> }[] = [];
    const pub = {
      publish: async (exchange: string, key: string, body: Buffer) => {
        await new Promise((r) => setTimeout(r, delayMs));
        sent.push({ exchange, key, body: JSON.parse(body.toString()) as Record<string, unknown> });
      },
    } as unknown as Publisher;
    return { pub, sent };
  };

  it('sends the first report at once and batches those made while it waits for its confirm', async () => {
    const { pub, sent } = fakePublisher(30);
    const r = new ProgressReporter(pub, 'xs_u_f.progress', silentLogger(), 200);
    const first = r.report({ host: 'h', state: 'applied', seqs: [[1, 1]] });
    await new Promise((res) => setTimeout(res, 5));
    const rest = [2, 3, 5].map((n) => r.report({ host: 'h', state: 'applied', seqs: [[n, n]] }));
    const parked = r.report({ host: 'h', state: 'parked', seqs: [[4, 4]], reason: 'HPM_PATH_UNSAFE: x', path: 'fs/a' });
    await Promise.all([first, ...rest, parked]);
    expect(sent[0]).toEqual({ exchange: 'xs_u_f.progress', key: 'progress.h', body: { host: 'h', state: 'applied', seqs: [[1, 1]] } });
    expect(sent.slice(1).map((m) => m.body)).toEqual(expect.arrayContaining([
      { host: 'h', state: 'applied', seqs: [[2, 3], [5, 5]] },
      { host: 'h', state: 'parked', seqs: [[4, 4]], reason: 'HPM_PATH_UNSAFE: x', paths: ['fs/a'] },
    ]));
    expect(sent).toHaveLength(3);
  });

  it('rejects the waiting reports when the publish fails', async () => {
    const pub = { publish: async () => { throw new Error('nack'); } } as unknown as Publisher;
    const r = new ProgressReporter(pub, 'x.progress', silentLogger());
    await expect(r.report({ host: 'h', state: 'applied', seqs: [[1, 1]] })).rejects.toThrow('nack');
  });
});
