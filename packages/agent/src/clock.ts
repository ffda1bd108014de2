import { nowNs } from '@hpcmirror/core';

/** Wall-clock time, injectable for tests. */
export interface Clock {
  /** ns since the epoch. */
  nowNs(): bigint;
}

export const systemClock: Clock = { nowNs };

export const nowMsOf = (clock: Clock): number => Number(clock.nowNs() / 1_000_000n);
