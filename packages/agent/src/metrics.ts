/** Monotonic counters the agent keeps (persisted in agent-state.json, so they survive restarts). */
export interface AgentCounters {
  recordsRead: number;
  /** Corrupt stretches skipped (bad magic, length or CRC). */
  recordsSkipped: number;
  skippedBytes: number;
  unknownOps: number;
  /** Announcements written to the journal and sent. */
  published: number;
  confirmed: number;
  publishRetries: number;
  lossMarkers: number;
  scansScheduled: number;
  segmentsDeleted: number;
}

export const newCounters = (): AgentCounters => ({
  recordsRead: 0,
  recordsSkipped: 0,
  skippedBytes: 0,
  unknownOps: 0,
  published: 0,
  confirmed: 0,
  publishRetries: 0,
  lossMarkers: 0,
  scansScheduled: 0,
  segmentsDeleted: 0,
});

/** A snapshot for `status`, tests and a metrics endpoint. */
export interface AgentMetrics extends AgentCounters {
  /** Published, not yet confirmed. */
  pending: number;
  dirtySetSize: number;
  /** Bytes in the spool segments seen at the last pass. */
  spoolBytes: number;
  /** Bytes of those not yet confirmed (spool backlog). */
  backlogBytes: number;
  segments: number;
  /** Highest hpcm_seq handed out. */
  assignedSeq: number;
  /** Contiguous watermark of terminal seqs (progress reports). */
  progressWatermark: number;
  brokerConnected: boolean;
}
