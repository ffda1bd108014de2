import type { ProgressRecord, ScanCounters } from './scan-records.js';

export interface ScanProgress extends ScanCounters {
  /** Entries examined by this run plus those of parts finished by the interrupted run it resumes. */
  examinedTotal: number;
  queuedDirs: number;
  elapsedMs: number;
  /** Entries examined per second by this run. */
  filesPerSecond: number;
  /** Entries the last finished scan of this root examined, when known. */
  expectedTotal?: number;
  /** Estimated milliseconds left, when expectedTotal is known. */
  etaMs?: number;
  /** 0..1 of expectedTotal, when known. */
  fraction?: number;
}

/** Turns the walker's cumulative counters into rates and an ETA. */
export function progressFrom(record: ProgressRecord | (ScanCounters & { elapsedNs: bigint; queuedDirs?: number }), examinedBefore: number, expectedTotal?: number): ScanProgress {
  const elapsedMs = Number(record.elapsedNs) / 1e6;
  const filesPerSecond = elapsedMs > 0 ? (record.examined * 1000) / elapsedMs : 0;
  const examinedTotal = examinedBefore + record.examined;
  const progress: ScanProgress = {
    examined: record.examined,
    emitted: record.emitted,
    dirs: record.dirs,
    errors: record.errors,
    examinedTotal,
    queuedDirs: record.queuedDirs ?? 0,
    elapsedMs,
    filesPerSecond,
  };
  if (expectedTotal !== undefined && expectedTotal > 0) {
    const remaining = Math.max(0, expectedTotal - examinedTotal);
    progress.expectedTotal = expectedTotal;
    progress.fraction = Math.min(1, examinedTotal / expectedTotal);
    if (filesPerSecond > 0) progress.etaMs = (remaining / filesPerSecond) * 1000;
  }
  return progress;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One status line for a progress bar: `1,234,567 examined  215,000 files/s  12 announced  ETA 3m05s`. */
export function describeScanProgress(p: ScanProgress, announced?: number): string {
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  const parts = [`${n(p.examinedTotal)} examined`, `${n(p.filesPerSecond)} files/s`, `${n(announced ?? p.emitted)} ${announced === undefined ? 'found' : 'announced'}`];
  if (p.errors > 0) parts.push(`${n(p.errors)} unreadable`);
  if (p.etaMs !== undefined) parts.push(`ETA ${duration(p.etaMs)}`);
  return parts.join('  ');
}
