/**
 * What failback will do, decided before it writes anything (`--plan` prints it, `--run` follows it):
 * - updates: paths changed on the secondary since T0 (ctime scan; every path after a queue
 *   overflow) that differ from the primary. The secondary wins, except over a primary version
 *   changed after T0 when the secondary's was not (only a full scan meets those).
 * - conflicts: updates whose primary version was also changed after T0; the primary's version is
 *   kept as `<name>.hpcm-conflict-<time>` before it is overwritten.
 * - deletes: paths of the T0 manifest gone from the secondary and unchanged on the primary since
 *   T0 (same type, size and mtime as in the manifest, ctime not after T0). Never from absence alone.
 * The paths go to the plan file as they are found (plan-file.ts); the plan itself is their counts.
 */
import { runScan, SUBSCRIBER_TEMP_GLOB } from '@hpcmirror/agent';
import { percentEncodeBytes } from '@hpcmirror/core';
import type { SourceStat } from '@hpcmirror/subscriber';
import { comparePaths, type CompareOptions, type Side } from '../audit/compare-trees.js';
import { PlanFileWriter, type PlanFileRef } from './plan-file.js';
import { readManifest, type ManifestEntry } from './t0-manifest.js';

export interface ReconcilePlan extends PlanFileRef {
  mode: 'since' | 'full';
  t0Ns: string;
  /** Paths examined on the secondary (changed since T0, or all). */
  examined: number;
  /** Copy lines of the plan file (conflicts included). */
  updates: number;
  conflicts: number;
  deletes: number;
  /** Manifest entries gone from the secondary but changed on the primary since T0 (or not comparable): kept. */
  keptChangedOnPrimary: number;
  manifestEntries: number;
}

export interface PlanInputs {
  /** The primary, through the forward subscribers' transport (the forward flow's source). */
  primary: Side;
  /** The secondary, here (the forward flow's destination). */
  secondary: Side;
  secondaryRoot: string;
  t0Ns: bigint;
  mode: 'since' | 'full';
  manifest: string | undefined;
  compare: CompareOptions;
  excludes: string[];
  /** Where the plan's paths go. */
  planFile: string;
}

const BATCH = 500;
const abs = (root: Buffer, rel: Buffer): Buffer => Buffer.concat([root, Buffer.from('/'), rel]);

export const encodeRel = (rel: Buffer): string => percentEncodeBytes(rel);

/** Unchanged on the primary since T0 and still what the manifest recorded. */
function unchangedSince(p: SourceStat, m: ManifestEntry, t0Ns: bigint, toleranceNs: bigint): boolean {
  if (!p.nsPrecision || p.ctimeNs > t0Ns || p.type !== m.type) return false;
  if (m.type === 'dir') return true;
  const dm = p.mtimeNs > m.mtimeNs ? p.mtimeNs - m.mtimeNs : m.mtimeNs - p.mtimeNs;
  return p.size === m.size && dm <= toleranceNs;
}

export async function buildPlan(i: PlanInputs): Promise<ReconcilePlan> {
  const out = new PlanFileWriter(i.planFile, `hpcmirror failback plan: T0 ${i.t0Ns} ns, ${i.mode === 'full' ? 'full scan of the secondary' : 'changed on the secondary since T0'}`);
  try {
    const counts = await planInto(i, out);
    return { ...counts, ...(await out.finish()) };
  } catch (err) {
    out.abandon();
    throw err;
  }
}

async function planInto(i: PlanInputs, out: PlanFileWriter): Promise<Omit<ReconcilePlan, keyof PlanFileRef>> {
  const plan = {
    mode: i.mode, t0Ns: i.t0Ns.toString(), examined: 0, updates: 0, conflicts: 0, deletes: 0, keptChangedOnPrimary: 0, manifestEntries: 0,
  };
  let batch: { rel: Buffer; ctimeNs: bigint }[] = [];
  const flushUpdates = async (): Promise<void> => {
    const seen = batch;
    batch = [];
    if (!seen.length) return;
    const ctimeOf = new Map(seen.map((e) => [e.rel.toString('latin1'), e.ctimeNs]));
    const diffs = await comparePaths(i.primary, i.secondary, seen.map((e) => e.rel), i.compare);
    const differing = [...new Map(diffs.map((d) => [d.path.toString('latin1'), d.path])).values()];
    if (!differing.length) return;
    const primaryStats = await i.primary.t.stat(differing.map((r) => abs(i.primary.root, r)));
    for (const [k, rel] of differing.entries()) {
      const p = primaryStats[k];
      const primaryChanged = !!p && (!p.nsPrecision || p.ctimeNs > i.t0Ns);
      const secondaryChanged = (ctimeOf.get(rel.toString('latin1')) ?? 0n) > i.t0Ns;
      // Unchanged here since T0 but changed on the primary (a full scan sees those): the primary's is newer.
      if (!secondaryChanged && primaryChanged) continue;
      plan.updates++;
      await out.copy(rel);
      if (secondaryChanged && primaryChanged && p.type === 'file') {
        plan.conflicts++;
        await out.conflict(rel);
      }
    }
  };
  await runScan({
    root: i.secondaryRoot,
    ...(i.mode === 'since' && { since: i.t0Ns }),
    excludes: [...i.excludes, SUBSCRIBER_TEMP_GLOB],
    onEntry: async (e) => {
      if (e.relPath.length === 0) return;
      plan.examined++;
      batch.push({ rel: e.relPath, ctimeNs: e.stat.ctimeNs });
      if (batch.length >= BATCH) await flushUpdates();
    },
  });
  await flushUpdates();

  if (i.manifest) {
    let entries: ManifestEntry[] = [];
    const flushDeletes = async (): Promise<void> => {
      const ms = entries;
      entries = [];
      if (!ms.length) return;
      const onSecondary = await i.secondary.t.stat(ms.map((m) => abs(i.secondary.root, m.relPath)));
      const gone = ms.filter((_, k) => !onSecondary[k]);
      if (!gone.length) return;
      const onPrimary = await i.primary.t.stat(gone.map((m) => abs(i.primary.root, m.relPath)));
      for (const [k, m] of gone.entries()) {
        const p = onPrimary[k];
        if (!p) continue; // gone from both: nothing to do
        if (unchangedSince(p, m, i.t0Ns, i.compare.mtimeToleranceNs)) {
          plan.deletes++;
          await out.delete(m.relPath, { type: m.type, size: m.size, mtimeNs: m.mtimeNs });
        } else {
          plan.keptChangedOnPrimary++;
        }
      }
    };
    for await (const m of readManifest(i.manifest)) {
      if (m.relPath.length === 0) continue;
      plan.manifestEntries++;
      entries.push(m);
      if (entries.length >= BATCH) await flushDeletes();
    }
    await flushDeletes();
  }
  return plan;
}

/** The delete cap: --max-delete N or N%, default the larger of 1,000 and 1% of the tree. */
export function deleteCap(maxDelete: string | undefined, treeEntries: number): number {
  if (maxDelete === undefined) return Math.max(1000, Math.floor(treeEntries / 100));
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(maxDelete.trim());
  if (!m) return NaN;
  return m[2] ? Math.floor((Number(m[1]) / 100) * treeEntries) : Math.floor(Number(m[1]));
}
