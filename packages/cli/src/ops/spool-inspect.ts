import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentStateJson } from '@hpcmirror/agent';

const SEGMENT_RE = /\.seg$/;
const LOSS_RE = /^(.+)\.loss$/;

/** The shim's spool as seen from this node, plus what the agent's checkpoint says about it. */
export interface SpoolView {
  dir: string;
  exists: boolean;
  segments: number;
  bytes: number;
  /** Bytes the agent has not yet seen confirmed by the broker (checkpoint behind the segment's end). */
  unconfirmedBytes: number;
  /** agent.spool_max_bytes: above it the shim stops recording. */
  maxBytes: number;
  /**
   * Loss markers not yet claimed by the agent: the shim could not record events (spool full, disk
   * error, path too long) since this time; the agent will schedule `scan --since` it.
   */
  lossPending: { host: string; since: string }[];
  /** Losses the agent handled (scans it scheduled for them) within the window, newest last. */
  lossesRecent: { since: string; requested: string }[];
  /** Loss markers the agent ever claimed. */
  lossesTotal: number;
}

const nsToIso = (ns: string | bigint): string => {
  try {
    return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
  } catch {
    return String(ns);
  }
};

export async function inspectSpool(dir: string, maxBytes: number, agentState: AgentStateJson | undefined, windowS: number, nowMs = Date.now()): Promise<SpoolView> {
  const view: SpoolView = {
    dir, exists: false, segments: 0, bytes: 0, unconfirmedBytes: 0, maxBytes, lossPending: [],
    lossesRecent: [], lossesTotal: agentState?.counters?.lossMarkers ?? 0,
  };
  const cutoffNs = BigInt(Math.floor(nowMs - windowS * 1000)) * 1_000_000n;
  for (const s of agentState?.scans ?? []) {
    if (s.reason !== 'loss') continue;
    try {
      if (BigInt(s.requestedNs) >= cutoffNs) view.lossesRecent.push({ since: nsToIso(s.sinceNs), requested: nsToIso(s.requestedNs) });
    } catch {
      // A malformed entry: not worth failing the report for.
    }
  }
  let names: string[];
  try {
    names = await readdir(dir);
    view.exists = true;
  } catch {
    return view;
  }
  for (const name of names) {
    const full = join(dir, name);
    if (SEGMENT_RE.test(name)) {
      const st = await stat(full).catch(() => null);
      if (!st?.isFile()) continue;
      view.segments++;
      view.bytes += st.size;
      const checkpoint = agentState?.segments?.[name]?.checkpoint ?? 0;
      view.unconfirmedBytes += Math.max(0, st.size - checkpoint);
      continue;
    }
    const loss = LOSS_RE.exec(name);
    if (loss) {
      const text = (await readFile(full, 'utf8').catch(() => '')).trim();
      view.lossPending.push({ host: loss[1]!, since: /^\d+$/.test(text) ? nsToIso(text) : 'unknown' });
    }
  }
  return view;
}
