import { describe, expect, it } from 'vitest';
import { routeFor } from '../src/routing.js';
import { announce } from './helpers/messages.js';

const opts = { small: 'X.small', large: 'X.large', largeThresholdBytes: 1000, stagePrefix: 'q_u_f.winnow.' };

describe('routeFor', () => {
  it('sends content at or above the threshold to the large exchange, everything else to the small one', () => {
    const stat = (size: number) => ({ size, mtimeNs: 1n });
    expect(routeFor(announce('fs/primary/a', { stat: stat(1000) }), 'v03.fs.primary', {}, opts).exchange).toBe('X.large');
    expect(routeFor(announce('fs/primary/a', { stat: stat(999) }), 'v03.fs.primary', {}, opts).exchange).toBe('X.small');
    expect(routeFor(announce('fs/primary/a'), 'v03.fs.primary', {}, opts).exchange).toBe('X.small');
    expect(routeFor(announce('fs/primary/b', { kind: 'rename', oldPath: 'fs/primary/a', stat: stat(5000) }), 'v03.fs.primary', {}, opts).exchange).toBe('X.small');
  });

  it('keeps the topic and headers, sets hpcm_path, and drops this stage’s retry bookkeeping', () => {
    const r = routeFor(announce('fs/primary/d/a'), 'v03.fs.primary.d', { hpcm_path: 'old', other: 1, hpcm_attempts: 2, 'x-death': [], hpcm_last_error: 'e' }, opts);
    expect(r).toEqual({ exchange: 'X.small', routingKey: 'v03.fs.primary.d', headers: { hpcm_path: 'fs/primary/d/a', other: 1 } });
  });

  it('rebuilds the topic of a message that came back from a retry queue', () => {
    expect(routeFor(announce('fs/primary/d/a'), 'q_u_f.winnow.retry.0', {}, opts).routingKey).toBe('v03.fs.primary.d');
  });
});
