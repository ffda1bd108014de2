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
import { isFlowDone, waitForFlow } from '../flow-progress.js';
import { componentsOf } from '../ops/components.js';
import { clearReverseOverflow, discardForwardQueues, reverseQueueView } from './broker-queues.js';
import { failbackJournalOf, failoverDirOf, planFileOf } from './failover-paths.js';
import type { FlowServices } from './flow-services.js';
import { checkPlanFile, planBatches, readPlan, type PlanLine } from './plan-file.js';
import { conflictName, type PrimaryWriter, type RemoveOutcome } from './primary-writer.js';
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
  /** Opened only for --run: the plan writes nothing on the primary. */
  writer?: PrimaryWriter;
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
  conflicts: number;
  deleted: number;
  forwarded: number;
}

const abs = (root: Buffer, rel: Buffer): Buffer => Buffer.concat([root, Buffer.from('/'), rel]);
const depth = (rel: Buffer): number => rel.filter((c) => c === 0x2f).length;
const rels = (xs: readonly string[]): Buffer[] => xs.map((x) => percentDecodeToBytes(x));

async function mode(i: FailbackInputs): Promise<'since' | 'full'> {
  const view = await reverseQueueView(i.reverse);
  if (view.overflowed > 0) {
    i.log.info(`the reverse queue overflowed (${view.overflowed} announcements dropped): reconciling with a full scan of the secondary, not only what changed since T0`);
    return 'full';
  }
  return 'since';
}

/** The plan, streamed to `planFile`: reads both sides, writes nothing on them. */
export async function planFailback(i: FailbackInputs, planFile: string): Promise<{ plan: ReconcilePlan; cap: number }> {
  const plan = await buildPlan({
    primary: i.primary, secondary: i.secondary, secondaryRoot: i.secondary.root.toString(), t0Ns: i.t0Ns,
    mode: await mode(i), manifest: i.manifest, compare: i.compare, excludes: ['*.hpcm-conflict-*'], planFile,
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
  for (let k = 0; k < paths.length; k += BATCH) await postPaths(cfg, paths.slice(k, k + BATCH).map((p) => abs(root, p)));
}

const BATCH = 1000;

/** Deletes planned paths that are still gone from the secondary and unchanged on the primary; counts the outcomes. */
async function deleteAll(i: FailbackInputs, writer: PrimaryWriter, lines: PlanLine[], counts: Record<RemoveOutcome | 'skipped', number>): Promise<void> {
  // Checked again right before: the secondary may have re-created them, the primary may have changed.
  const rels = lines.map((l) => l.rel);
  const onSecondary = await i.secondary.t.stat(rels.map((r) => abs(i.secondary.root, r)));
  const onPrimary = await i.primary.t.stat(rels.map((r) => abs(i.primary.root, r)));
  for (const [k, l] of lines.entries()) {
    if (l.kind !== 'delete') continue;
    const [s, p] = [onSecondary[k], onPrimary[k]];
    // A directory's ctime moved when its files went just now; rmdir refuses one that is not empty.
    if (s || !p || (l.planned.type !== 'dir' && (!p.nsPrecision || p.ctimeNs > i.t0Ns))) {
      counts.skipped++;
      continue;
    }
    counts[await writer.remove(l.rel, l.planned)]++;
  }
}

export async function runFailback(i: FailbackInputs): Promise<FailbackOutcome> {
  const writer = i.writer;
  if (!writer) throw new Error('runFailback needs a primary writer');
  const journal = StepJournal.open(failbackJournalOf(i.forward), 'failback', i.log);
  if (journal.resumed) i.log.info(`resuming the failback started at ${journal.json.startedAt}`);
  const deadline = () => Date.now() + i.timeoutS * 1000;

  const how = writer.kind === 'sftp' ? 'over SFTP' : 'mounted here';
  await journal.step('check-primary', `checking the primary is reachable and writable (${how})`, async () => {
    await writer.probeWritable();
    const [st] = await i.primary.t.stat([i.primary.root]);
    if (st?.type !== 'dir') throw new HpcmError('HPM_FAILBACK_PRIMARY_DOWN', `${i.primary.root.toString()}: not a directory as the forward transport sees it`);
  });
  const { plan, cap } = await journal.step('plan', 'planning: what changed on the secondary since T0, and the deletes the T0 manifest allows', () => planFailback(i, planFileOf(i.forward, i.t0Ns)));
  await checkPlanFile(plan, journal.file);
  i.log.info(`plan: ${plan.updates} to copy back (${plan.mode === 'full' ? 'full scan' : 'changed since T0'}), ${plan.conflicts} conflicts, ${plan.deletes} deletes, ${plan.keptChangedOnPrimary} kept (changed on the primary since T0); all in ${plan.file}`);
  const capNow = deleteCap(i.maxDelete, plan.manifestEntries);
  if (Number.isNaN(capNow)) throw new HpcmError('HPM_USAGE', `--max-delete must be N or N% (got ${i.maxDelete})`);
  if (plan.deletes > capNow) {
    throw new HpcmError('HPM_FAILBACK_DELETE_CAP', `the plan deletes ${plan.deletes} paths on the primary, more than the cap of ${capNow} (--max-delete${i.maxDelete === undefined ? ', default 1,000 or 1% of the tree' : ` ${i.maxDelete}`}); nothing was deleted; check \`hpcmirror failback --plan\` and re-run with a higher --max-delete`);
  }
  void cap;

  // One stamp per failback, kept across a resume so an interrupted step never makes a second copy.
  const stamp = journal.fact<string>('stamp') ?? formatTime(BigInt(Date.now()) * 1_000_000n, 6).replace(/\..*$/, '');
  journal.setFact('stamp', stamp);
  const conflicts = await journal.step('conflicts', `keeping ${plan.conflicts} conflict copies on the primary (${how})`, async () => {
    let kept = 0;
    for await (const c of readPlan(plan.file, 'conflict')) {
      await writer.keepConflict(c.rel, stamp);
      kept++;
    }
    return kept;
  });
  for await (const c of readPlan(plan.file, 'conflict')) i.log.info(`conflict: the primary's version is kept as ${percentEncodeBytes(conflictName(c.rel, stamp))}`);

  await journal.step('drain', 'starting the reverse subscribers and draining the reverse queue', async () => {
    await i.reverseServices.start('subscriber');
    const end = deadline();
    if (plan.mode === 'since') {
      const p = await waitForFlow(i.reverse, end);
      if (p.parked.length) throw new HpcmError('HPM_FAILBACK_DRAIN', `the reverse flow parked ${p.parked.length} announcements (see \`hpcmirror status\`), e.g. ${p.parked[0]!.path}: ${p.parked[0]!.reason}`);
      if (!isFlowDone(p)) throw new HpcmError('HPM_FAILBACK_DRAIN', `the reverse flow did not drain within ${i.timeoutS} s (${p.pending} pending)`);
    }
    for (;;) {
      const v = await reverseQueueView(i.reverse);
      if (v.waiting === 0) break;
      if (Date.now() >= end) throw new HpcmError('HPM_FAILBACK_DRAIN', `the reverse queue still holds ${v.waiting} announcements after ${i.timeoutS} s`);
      await sleep(250);
    }
  });

  await journal.step('reconcile', `announcing ${plan.updates} secondary changes through the reverse flow and waiting for them`, async () => {
    if (plan.mode === 'full' && i.reverseServices.isRunning('winnow')) {
      // The winnow forwarded the announcements the full queue then dropped; it would suppress these
      // as their duplicates. Its memory of what it forwarded goes with a restart.
      await i.reverseServices.stop('winnow');
      await i.reverseServices.start('winnow');
    }
    for await (const batch of planBatches(plan.file, 'copy', BATCH)) await announce(i.reverse, i.secondary.root, batch.map((l) => l.rel));
    const end = deadline();
    let left = 0;
    const examples: string[] = [];
    for await (const batch of planBatches(plan.file, 'copy', BATCH)) {
      const l = await converged(i.primary, i.secondary, batch.map((x) => x.rel), i.compare, end);
      left += l.length;
      examples.push(...l.slice(0, 5 - examples.length));
    }
    if (left) throw new HpcmError('HPM_FAILBACK_DRAIN', `${left} paths still differ after ${i.timeoutS} s, e.g. ${examples.join(', ')}`);
  });

  const deleted = await journal.step('deletes', `deleting ${plan.deletes} paths on the primary (present at T0, deleted on the secondary, unchanged on the primary since)`, async () => {
    const counts = { removed: 0, gone: 0, changed: 0, 'not-empty': 0, skipped: 0 };
    // Files first, then directories deepest first: a directory goes only once it is empty. The
    // directories wait in memory (fewer than the files, and the cap bounds them all).
    const dirs: PlanLine[] = [];
    for await (const batch of planBatches(plan.file, 'delete', BATCH)) {
      dirs.push(...batch.filter((l) => l.kind === 'delete' && l.planned.type === 'dir'));
      await deleteAll(i, writer, batch.filter((l) => l.kind === 'delete' && l.planned.type !== 'dir'), counts);
    }
    dirs.sort((a, b) => depth(b.rel) - depth(a.rel));
    for (let k = 0; k < dirs.length; k += BATCH) await deleteAll(i, writer, dirs.slice(k, k + BATCH), counts);
    const kept = counts.changed + counts['not-empty'] + counts.skipped;
    if (kept) i.log.info(`deletes: ${kept} kept (re-created on the secondary or changed on the primary since the plan: ${counts.skipped + counts.changed}; directories not empty: ${counts['not-empty']})`);
    return counts.removed;
  });

  const forwardPaths = await journal.step('audit', 'auditing the primary against the secondary', async () => {
    const result = await compareTrees(i.primary, i.secondary, i.compare);
    const paths = [...new Map(result.differences.map((d) => [d.path.toString('latin1'), d.path])).values()];
    const stats = await i.primary.t.stat(paths.map((p) => abs(i.primary.root, p)));
    const conflictSet = new Set<string>();
    for await (const c of readPlan(plan.file, 'conflict')) conflictSet.add(conflictName(c.rel, stamp).toString('latin1'));
    const expected: string[] = [];
    const unexpected: string[] = [];
    paths.forEach((p, k) => {
      const enc = encodeRel(p);
      const st = stats[k];
      // Changed on the primary since T0 (conflict copies included): the restarted forward flow carries it.
      if (conflictSet.has(p.toString('latin1')) || (st && (!st.nsPrecision || st.ctimeNs > i.t0Ns))) expected.push(enc);
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
    // Announced from here only where this config has the primary's agent (the sandbox); otherwise on the primary's side.
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
