import { nowNs } from '@hpcmirror/core';

/** Time as the subscriber sees it; injected so tests can pin it. */
export interface Clock {
  /** Wall clock, ms since the epoch. */
  nowMs(): number;
  /** Wall clock, ns since the epoch (latency is measured against the source's event time). */
  nowNs(): bigint;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  nowNs: () => nowNs(),
};
