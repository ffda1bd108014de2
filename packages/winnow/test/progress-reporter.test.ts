import { silentLogger } from '@hpcmirror/core';
import { describe, expect, it } from 'vitest';
import { ProgressReporter } from '../src/progress-reporter.js';
import { FakeClock } from './helpers/fake-clock.js';

describe('ProgressReporter', () => {
  it('batches per host, state and reason for at most 200 ms, and resolves once published', async () => {
    const clock = new FakeClock();
    const sent: [string, unknown][] = [];
    const r = new ProgressReporter({ clock, logger: silentLogger(), publish: async (host, body) => void sent.push([`progress.${host}`, JSON.parse(body.toString())]) });
    let done = 0;
    for (const s of [3, 1, 2, 7]) void r.report('hpc1', 'suppressed', [s, s]).then(() => done++);
    void r.report('hpc2', 'suppressed', [1, 1]).then(() => done++);
    void r.report('hpc1', 'parked', [9, 9], { reason: 'HPM_MSG_INVALID: x', path: 'fs/a' }).then(() => done++);
    clock.advance(199);
    expect(sent).toEqual([]);
    clock.advance(1);
    await new Promise((res) => setImmediate(res));
    expect(sent).toEqual([
      ['progress.hpc1', { host: 'hpc1', state: 'suppressed', seqs: [[1, 3], [7, 7]] }],
      ['progress.hpc2', { host: 'hpc2', state: 'suppressed', seqs: [[1, 1]] }],
      ['progress.hpc1', { host: 'hpc1', state: 'parked', seqs: [[9, 9]], reason: 'HPM_MSG_INVALID: x', paths: ['fs/a'] }],
    ]);
    expect(done).toBe(6);
  });

  it('sends a batch at once when many callers wait on it', async () => {
    const clock = new FakeClock();
    const sent: unknown[] = [];
    const r = new ProgressReporter({ clock, logger: silentLogger(), maxWaiting: 3, publish: async (_key, body) => void sent.push(JSON.parse(body.toString())) });
    const all = [1, 2, 3].map((s) => r.report('hpc1', 'suppressed', [s, s]));
    await Promise.all(all);
    expect(sent).toEqual([{ host: 'hpc1', state: 'suppressed', seqs: [[1, 3]] }]);
    expect(r.pending).toBe(0);
  });

  it('rejects the waiters of a report that was not confirmed', async () => {
    const clock = new FakeClock();
    const r = new ProgressReporter({ clock, logger: silentLogger(), publish: async () => { throw new Error('nack'); } });
    const p = r.report('hpc1', 'suppressed', [1, 1]);
    await r.flush();
    await expect(p).rejects.toThrow('nack');
  });
});
