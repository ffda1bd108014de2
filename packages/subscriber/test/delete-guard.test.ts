import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { DeleteGuard } from '../src/delete-guard.js';
import { isSubscriberError } from '../src/errors.js';

const clockAt = (start: number): Clock & { ms: number } => {
  const c = { ms: start, nowMs: () => c.ms, nowNs: () => BigInt(c.ms) * 1_000_000n };
  return c;
};

describe('DeleteGuard', () => {
  it('allows up to the limit per minute, then refuses (retryable) until the window moves on', () => {
    const clock = clockAt(1_000_000);
    const g = new DeleteGuard(3, clock);
    g.take(); g.take(); g.take();
    let err: unknown;
    try { g.take(); } catch (e) { err = e; }
    expect(isSubscriberError(err, 'HPM_SUB_DELETE_PAUSED')).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(true);
    expect(g.status()).toMatchObject({ paused: true, lastMinute: 3, refused: 1 });
    expect(g.status().alert).toMatch(/removes paused/);
    clock.ms += 61_000;
    expect(g.status()).toMatchObject({ paused: false, lastMinute: 0, alert: null });
    g.take();
  });

  it('is off at 0', () => {
    const g = new DeleteGuard(0, clockAt(0));
    for (let i = 0; i < 100; i++) g.take();
    expect(g.status().paused).toBe(false);
  });
});
