/**
 * `hpcmirror failback --plan|--run` (semantics.md): check the primary is reachable and writable;
 * decide (plan) what changed on the secondary since T0 and what to delete; keep conflict copies;
 * drain the reverse queue; reconcile the rest through the reverse flow; apply the capped deletes;
 * audit; discard the set-aside forward queues; restart the forward flow and hand it what changed
 * on the primary since T0. Every step is logged in `failback.json`; a re-run continues.
 */
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { postPaths } from '@hpcmirror/agent';
import { formatTime, HpcmError, percentDecodeToBytes, percentEncodeBytes, type LoadedConfig } from '@hpcmirror/core';
import { compareTrees, comparePaths, type CompareOptions, type Side } from '../audit/compare-trees.js';
import { waitForFlow } from '../flow-progress.js';
import { componentsOf } from '../ops/components.js';
import { clearReverseOverflow, discardForwardQueues, reverseQueueView } from './broker-queues.js';
import { failbackJournalOf, failoverDirOf } from './failover-paths.js';
import type { FlowServices } from './flow-services.js';
import type { PrimaryWriter } from './primary-writer.js';
import { buildPlan, deleteCap, encodeRel, type ReconcilePlan } from './reconcile-plan.js';
import { StepJournal, type StepLog } from './step-journal.js';

export interface FailbackInputs {
  forward: LoadedConfig;
  reverse: LoadedConfig;
  forwardServices: FlowServices;
  reverseServices: FlowServices;
  /** Primary through the forward transport, secondary here. */
  primary: Side;
  secondary: Side;
  writer: PrimaryWriter;
  t0Ns: bigint;
  manifest: string | undefined;
  maxDelete: string | undefined;
  compare: CompareOptions;
  timeoutS: number;
  log: StepLog;
}

export interface FailbackOutcome {
  plan: ReconcilePlan;
  cap: number;
  conflicts: string[];
  deleted: number;
  forwarded: number;
}

const abs = (root: Buffer, rel: Buffer): Buffer => Buffer.concat([root, Buffer.from('/'), rel]);
const rels = (xs: readonly string[]): Buffer[] => xs.map((x) => percentDecodeToBytes(x));

async function mode(i: FailbackInputs): Promise<'since' | 'full'> {
  const view = await reverseQueueView(i.reverse);
  if (view.overflowed > 0) {
    i.log.info(`the reverse queue overflowed (${view.overflowed} announcements dropped): reconciling with a full scan of the secondary, not only what changed since T0`);
    return 'full';
  }
  return 'since';
}

/** The plan alone, as `--plan` prints it: reads both sides, writes nothing. */
export async function planFailback(i: FailbackInputs): Promise<{ plan: ReconcilePlan; cap: number }> {
  const plan = await buildPlan({
    primary: i.primary, secondary: i.secondary, secondaryRoot: i.secondary.root.toString(), t0Ns: i.t0Ns,
    mode: await mode(i), manifest: i.manifest, compare: i.compare, excludes: ['*.hpcm-conflict-*'],
  });
  return { plan, cap: deleteCap(i.maxDelete, plan.manifestEntries) };
}

/** Polls until the paths are the same on both sides (or the deadline): the reverse subscribers applied them. */
async function converged(primary: Side, secondary: Side, paths: Buffer[], compare: CompareOptions, deadline: number): Promise<string[]> {
  let left = paths;
  while (left.length) {
    const diffs = await comparePaths(secondary, primary, left, compare);
    left = [...new Map(diffs.map((d) => [d.path.toString('latin1'), d.path])).values()];
    if (!left.length || Date.now() >= deadline) break;
    await sleep(250);
  }
  return left.map((p) => percentEncodeBytes(p));
}

async function announce(cfg: LoadedConfig, root: Buffer, paths: Buffer[]): Promise<void> {
  for (let k = 0; k < paths.length; k += 1000) await postPaths(cfg, paths.slice(k, k + 1000).map((p) => abs(root, p)));
}

export async function runFailback(i: FailbackInputs): Promise<FailbackOutcome> {
  const journal = StepJournal.open(failbackJournalOf(i.forward), 'failback', i.log);
  if (journal.resumed) i.log.info(`resuming the failback started at ${journal.json.startedAt}`);
  const deadline = () => Date.now() + i.timeoutS * 1000;

  await journal.step('check-primary', 'checking the primary is reachable and writable', async () => {
    await i.writer.probeWritable();
    const [st] = await i.primary.t.stat([i.primary.root]);
    if (st?.type !== 'dir') throw new HpcmError('HPM_FAILBACK_PRIMARY_DOWN', `${i.primary.root.toString()}: not a directory as the forward transport sees it`);
  });
  const { plan, cap } = await journal.step('plan', 'planning: what changed on the secondary since T0, and the deletes the T0 manifest allows', () => planFailback(i));
  i.log.info(`plan: ${plan.updates.length} to copy back (${plan.mode === 'full' ? 'full scan' : 'changed since T0'}), ${plan.conflicts.length} conflicts, ${plan.deletes.length} deletes, ${plan.keptChangedOnPrimary} kept (changed on the primary since T0)`);
  const capNow = deleteCap(i.maxDelete, plan.manifestEntries);
  if (Number.isNaN(capNow)) throw new HpcmError('HPM_USAGE', `--max-delete must be N or N% (got ${i.maxDelete})`);
  if (plan.deletes.length > capNow) {
    throw new HpcmError('HPM_FAILBACK_DELETE_CAP', `the plan deletes ${plan.deletes.length} paths on the primary, more than the cap of ${capNow} (--max-delete${i.maxDelete === undefined ? ', default 1,000 or 1% of the tree' : ` ${i.maxDelete}`}); nothing was deleted; check \`hpcmirror failback --plan\` and re-run with a higher --max-delete`);
  }
  void cap;

  // One stamp per failback, kept across a resume so an interrupted step never makes a second copy.
  const stamp = journal.fact<string>('stamp') ?? formatTime(BigInt(Date.now()) * 1_000_000n, 6).replace(/\..*$/, '');
  journal.setFact('stamp', stamp);
  const conflicts = await journal.step('conflicts', `keeping ${plan.conflicts.length} conflict copies on the primary`, async () => {
    const kept: string[] = [];
    for (const rel of rels(plan.conflicts)) kept.push(percentEncodeBytes(await i.writer.keepConflict(rel, stamp)));
    return kept;
  });
  for (const c of conflicts) i.log.info(`conflict: the primary's version is kept as ${c}`);

  await journal.step('drain', 'starting the reverse subscribers and draining the reverse queue', async () => {
    await i.reverseServices.start('subscriber');
    const end = deadline();
    if (plan.mode === 'since') {
      const p = await waitForFlow(i.reverse, end);
      if (p.parked.length) throw new HpcmError('HPM_FAILBACK_DRAIN', `the reverse flow parked ${p.parked.length} announcements (see \`hpcmirror status\`), e.g. ${p.parked[0]!.path}: ${p.parked[0]!.reason}`);
      if (p.target === null || p.watermark < p.target) throw new HpcmError('HPM_FAILBACK_DRAIN', `the reverse flow did not drain within ${i.timeoutS} s (${p.pending} pending)`);
    }
    for (;;) {
      const v = await reverseQueueView(i.reverse);
      if (v.waiting === 0) break;
      if (Date.now() >= end) throw new HpcmError('HPM_FAILBACK_DRAIN', `the reverse queue still holds ${v.waiting} announcements after ${i.timeoutS} s`);
      await sleep(250);
    }
  });

  await journal.step('reconcile', `announcing ${plan.updates.length} secondary changes through the reverse flow and waiting for them`, async () => {
    const paths = rels(plan.updates);
    if (plan.mode === 'full' && i.reverseServices.isRunning('winnow')) {
      // The winnow forwarded the announcements the full queue then dropped; it would suppress these
      // as their duplicates. Its memory of what it forwarded goes with a restart.
      await i.reverseServices.stop('winnow');
      await i.reverseServices.start('winnow');
    }
    await announce(i.reverse, i.secondary.root, paths);
    const left = await converged(i.primary, i.secondary, paths, i.compare, deadline());
    if (left.length) throw new HpcmError('HPM_FAILBACK_DRAIN', `${left.length} paths still differ after ${i.timeoutS} s, e.g. ${left.slice(0, 5).join(', ')}`);
  });

  const deleted = await journal.step('deletes', `deleting ${plan.deletes.length} paths on the primary (present at T0, deleted on the secondary, unchanged on the primary since)`, async () => {
    let n = 0;
    for (const d of plan.deletes) {
      const rel = percentDecodeToBytes(d.path);
      // Checked again right before: the secondary may have re-created it, the primary may have changed.
      const [s] = await i.secondary.t.stat([abs(i.secondary.root, rel)]);
      const [p] = await i.primary.t.stat([abs(i.primary.root, rel)]);
      // A directory's ctime moved when its files went just now; rmdir refuses one that is not empty.
      if (s || !p || (d.type !== 'dir' && (!p.nsPrecision || p.ctimeNs > i.t0Ns))) continue;
      if (await i.writer.remove(rel, d.type)) n++;
    }
    return n;
  });

  const forwardPaths = await journal.step('audit', 'auditing the primary against the secondary', async () => {
    const result = await compareTrees(i.primary, i.secondary, i.compare);
    const paths = [...new Map(result.differences.map((d) => [d.path.toString('latin1'), d.path])).values()];
    const stats = await i.primary.t.stat(paths.map((p) => abs(i.primary.root, p)));
    const conflictSet = new Set(conflicts);
    const expected: string[] = [];
    const unexpected: string[] = [];
    paths.forEach((p, k) => {
      const enc = encodeRel(p);
      const st = stats[k];
      // Changed on the primary since T0 (conflict copies included): the restarted forward flow carries it.
      if (conflictSet.has(enc) || (st && (!st.nsPrecision || st.ctimeNs > i.t0Ns))) expected.push(enc);
      else unexpected.push(enc);
    });
    if (unexpected.length) {
      throw new HpcmError('HPM_FAILBACK_AUDIT', `${unexpected.length} differences between primary and secondary that no primary change since T0 explains, e.g. ${unexpected.slice(0, 5).join(', ')}`);
    }
    i.log.info(`audit: ${result.compared} paths compared; ${expected.length} differ by primary changes since T0, handed to the forward flow`);
    return expected;
  });

  await journal.step('discard-forward', 'discarding the set-aside forward queues', () => discardForwardQueues(i.forward));

  await journal.step('restart-forward', 'stopping the reverse flow and restarting the forward flow', async () => {
    await i.reverseServices.stop('subscriber');
    for (const c of componentsOf(i.reverse).filter((x) => x !== 'subscriber').reverse()) await i.reverseServices.stop(c);
    for (const c of componentsOf(i.forward)) await i.forwardServices.start(c);
  });

  const forwarded = await journal.step('forward-changes', `announcing ${forwardPaths.length} primary changes since T0 through the forward flow`, async () => {
    if (!forwardPaths.length) return 0;
    // Announced from here only where the primary is mounted here (the writer checked) and this config has the agent.
    if (!i.forward.agent) {
      i.log.info(`run on the primary's side: hpcmirror scan --since ${formatTime(i.t0Ns, 6)} ${i.forward.source_root}`);
      return 0;
    }
    const paths = rels(forwardPaths);
    await announce(i.forward, i.primary.root, paths);
    const left = await converged(i.primary, i.secondary, paths, i.compare, deadline());
    if (left.length) throw new HpcmError('HPM_FAILBACK_DRAIN', `${left.length} primary changes did not reach the secondary within ${i.timeoutS} s, e.g. ${left.slice(0, 5).join(', ')}`);
    return paths.length;
  });

  await clearReverseOverflow(i.reverse);
  journal.finish();
  // Done: the next outage starts a new failover.
  const dir = failoverDirOf(i.forward);
  renameSync(dir, join(dir, '..', `failover-done-${i.t0Ns}-${Date.now()}`));
  return { plan, cap: capNow, conflicts, deleted, forwarded };
}
