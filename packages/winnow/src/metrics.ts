/** Counters the service keeps as it runs (a plain object; a Prometheus endpoint can read it later). */
export interface WinnowCounters {
  /** Messages taken from the input queue (parked ones included). */
  received: number;
  /** Messages published and confirmed downstream. */
  forwarded: number;
  forwardedSmall: number;
  forwardedLarge: number;
  /** Duplicates of the last forward of their path. */
  suppressed: number;
  /** Dropped: announcements of the mirror's own writes (hpcm_origin of this flow or its reverse flow). */
  echoes: number;
  /** Held messages replaced by a newer change of their path (covered by its forward). */
  coalesced: number;
  /** Malformed messages moved to the parking queue. */
  parked: number;
  /** Forwards that were not confirmed (their inputs went to the retry queue). */
  forwardFailures: number;
  /** Held messages handed back to the broker on stop. */
  requeued: number;
}

export interface WinnowMetrics extends WinnowCounters {
  /** Paths remembered now, and the bound. */
  cacheSize: number;
  cacheMax: number;
  /** Paths dropped from the cache because it was full. */
  cacheEvictions: number;
  /** Messages held unacked in open windows. */
  held: number;
  /** Forwards waiting for their confirm. */
  inflight: number;
}

export function newCounters(): WinnowCounters {
  return { received: 0, forwarded: 0, forwardedSmall: 0, forwardedLarge: 0, suppressed: 0, echoes: 0, coalesced: 0, parked: 0, forwardFailures: 0, requeued: 0 };
}
