import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecords, encodeRecord, type RecordInput, type RecordStat, type SpoolRecord } from '../src/spool/record.js';

export const b = (s: string): Buffer => Buffer.from(s);

/** A record as the decoder returns it, made from what a test says. */
export function rec(r: RecordInput): SpoolRecord {
  return decodeRecords(encodeRecord(r)).records[0]!;
}

export function fileStat(size: number, mtimeNs = 1_700_000_000_000_000_000n, mode = 0o100644, ino = 42n): RecordStat {
  return { size: BigInt(size), mtimeNs, ctimeNs: mtimeNs + 1n, ino, dev: 1n, mode, nlink: 1 };
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `hpcm-agent-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let flowCounter = 0;
/** A flow name unique to this test run (queues and exchanges on the shared broker stay apart). */
export function uniqueFlow(tag: string): string {
  flowCounter += 1;
  return `agent_${tag}_${process.pid}_${Date.now().toString(36)}_${flowCounter}`;
}
