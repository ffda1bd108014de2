import { readFile } from 'node:fs/promises';
import { HpcmError } from '@hpcmirror/core';
import type { DirtyEntryJson } from '../dirty/dirty-set.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import type { AgentCounters } from '../metrics.js';
import type { SeqLedgerJson } from './seq-ledger.js';

export interface SegmentStateJson {
  /** Offset up to which every record is confirmed by the broker (restart reads from here). */
  checkpoint: number;
  /** Offset up to which the agent has read. */
  read: number;
  /** File size at the last look (the spool end `wait` compares against). */
  size: number;
  /** Inode, to notice a segment that was deleted and created again under the same name. */
  ino: string;
}

export interface ScanRequestJson {
  /** Catch-up scan of changes since this time (ns, by ctime); "0" = everything under dir. */
  sinceNs: string;
  /** Percent-encoded directory; absent = all of source_root. */
  dir?: string;
  reason: 'loss' | 'corrupt' | 'moved-in' | 'safety';
  requestedNs: string;
}

/** agent-state.json: the checkpoint and what `wait`/`status` read. Replaced atomically. */
export interface AgentStateJson {
  version: 1;
  host: string;
  spoolDir: string;
  updatedNs: string;
  seq: SeqLedgerJson;
  segments: Record<string, SegmentStateJson>;
  dirty: DirtyEntryJson[];
  /** Catch-up scans asked for (newest last, bounded). */
  scans: ScanRequestJson[];
  counters: AgentCounters;
}

const corrupt = (file: string, why: string, cause?: unknown): HpcmError =>
  new HpcmError('HPM_STATE_CORRUPT', `${file}: ${why}; move it aside to start over (events after the last good checkpoint are re-read from the spool)`, { cause });

export async function readAgentState(file: string): Promise<AgentStateJson | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw corrupt(file, `cannot read (${(err as NodeJS.ErrnoException).code})`, err);
  }
  let j: AgentStateJson;
  try {
    j = JSON.parse(text) as AgentStateJson;
  } catch (err) {
    throw corrupt(file, 'not JSON', err);
  }
  if (j === null || typeof j !== 'object' || j.version !== 1 || typeof j.seq?.assigned !== 'number'
    || typeof j.segments !== 'object' || !Array.isArray(j.dirty)) {
    throw corrupt(file, 'not an agent state (version 1)');
  }
  return j;
}

export async function writeAgentState(file: string, state: AgentStateJson): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state, null, 1)}\n`);
}
