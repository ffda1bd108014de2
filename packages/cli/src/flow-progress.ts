import { readdir, stat } from 'node:fs/promises';
import { agentStatePaths, readAgentState, readProgressFile, resolveAgentSettings, type ProgressJson } from '@hpcmirror/agent';
import type { LoadedConfig } from '@hpcmirror/core';

/** Where `wait` stands: what it waits for and what is done (docs/progress.md). */
export interface FlowProgress {
  /** The spool segments present at the call have been published up to their size then. */
  spoolDrained: boolean;
  /** Highest hpcm_seq assigned once the spool was drained (the target), or null until then. */
  target: number | null;
  watermark: number;
  pending: number;
  parked: ProgressJson['parked'];
  /** Parked events an operator retried (`hpcmirror parked retry`): pending again until applied. */
  retrying: ProgressJson['parked'];
}

/** Sizes of the spool segments now: everything in them was announced "before the call". */
export async function spoolSnapshot(cfg: LoadedConfig): Promise<Map<string, number>> {
  const dir = resolveAgentSettings(cfg).spoolDir;
  const snap = new Map<string, number>();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.seg')) continue;
    const st = await stat(`${dir}/${name}`).catch(() => null);
    if (st) snap.set(name, st.size);
  }
  return snap;
}

/**
 * One look at the flow: has the agent published everything the snapshot holds, and how far have
 * the applied/suppressed/coalesced reports of the subscribers and winnows come.
 */
export async function flowProgress(cfg: LoadedConfig, snapshot: Map<string, number>, target: number | null): Promise<FlowProgress> {
  const paths = agentStatePaths(cfg);
  const state = await readAgentState(paths.agentState);
  const progress = await readProgressFile(paths.progress).catch(() => undefined);
  let spoolDrained = state !== undefined;
  if (state) {
    const spoolDir = resolveAgentSettings(cfg).spoolDir;
    for (const [name, size] of snapshot) {
      const seg = state.segments[name];
      if (seg && seg.checkpoint >= size) continue;
      // A segment the agent already deleted was fully confirmed.
      if (!seg && !(await stat(`${spoolDir}/${name}`).catch(() => null))) continue;
      spoolDrained = false;
    }
  }
  const t = target ?? (spoolDrained && state ? state.seq.assigned : null);
  const watermark = progress?.watermark ?? 0;
  const upToTarget = (p: { seq: number }) => t === null || p.seq <= t;
  const parked = (progress?.parked ?? []).filter(upToTarget);
  const retrying = (progress?.retrying ?? []).filter(upToTarget);
  return { spoolDrained, target: t, watermark, pending: t === null ? -1 : Math.max(0, t - watermark) + retrying.length, parked, retrying };
}

/** Everything up to the target is terminal, and nothing retried is still on its way. */
export function isFlowDone(p: FlowProgress): boolean {
  return p.parked.length === 0 && p.retrying.length === 0 && p.target !== null && p.watermark >= p.target;
}

/**
 * `wait` with no PATH: exact, not a sleep. It notes the spool's end at the call, waits until the
 * agent has published up to it (then the highest hpcm_seq assigned is the target), and until every
 * seq up to the target is applied, superseded, suppressed or coalesced (docs/progress.md).
 */
export async function waitForFlow(cfg: LoadedConfig, deadline: number, onTick?: (p: FlowProgress) => void): Promise<FlowProgress> {
  const snapshot = await spoolSnapshot(cfg);
  let target: number | null = null;
  for (;;) {
    const p = await flowProgress(cfg, snapshot, target);
    target = p.target;
    onTick?.(p);
    if (p.parked.length || isFlowDone(p) || Date.now() >= deadline) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
}
