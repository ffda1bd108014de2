import type { Command } from 'commander';
import { parseSinceTime } from '@hpcmirror/agent';
import { formatTime, HpcmError, percentEncodeBytes } from '@hpcmirror/core';
import { loggerFor } from '../context.js';
import { failoverJournalOf, planPreviewOf } from '../failback/failover-paths.js';
import { loadFlowPair, type FlowPairOptions } from '../failback/flow-pair.js';
import { readPlan } from '../failback/plan-file.js';
import { primaryWriterFor, type PrimaryWriter } from '../failback/primary-writer.js';
import { planFailback, runFailback, type FailbackInputs } from '../failback/run-failback.js';
import type { FailoverRecord } from '../failback/run-failover.js';
import { StepJournal } from '../failback/step-journal.js';
import { compareOptions, openMirrorSides } from '../mirror-sides.js';

interface FailbackOptions extends FlowPairOptions {
  plan?: boolean; run?: boolean; since?: string; manifest?: string; maxDelete?: string; timeout: string; json?: boolean;
}

/** The first `max` copies (with their conflicts) and deletes of a plan file. */
async function printPlanHead(file: string, max: number): Promise<void> {
  let copies = 0;
  for await (const l of readPlan(file)) {
    if (l.kind === 'copy' && ++copies <= max) process.stdout.write(`  copy back  ${percentEncodeBytes(l.rel)}\n`);
    else if (l.kind === 'conflict' && copies <= max) process.stdout.write(`  conflict   ${percentEncodeBytes(l.rel)}   (the primary's version is kept as a copy)\n`);
  }
  let deletes = 0;
  for await (const l of readPlan(file, 'delete')) {
    if (++deletes > max) break;
    process.stdout.write(`  delete     ${percentEncodeBytes(l.rel)}\n`);
  }
}

export function registerFailback(program: Command): void {
  program.command('failback')
    .description('the primary is back: bring what changed on the secondary since T0 home, then restart the forward flow')
    .option('--plan', 'print what --run would do (copies, conflicts, deletes); change nothing')
    .option('--run', 'do it; a re-run after an interruption continues where it stopped')
    .option('--since <time>', 'T0 (default: the one failover recorded): ISO date, YYYYMMDDTHHMMSS, @epoch or an age')
    .option('--manifest <file>', 'manifest of the applied state at T0 (default: the one failover wrote); without one, nothing is deleted')
    .option('--max-delete <n>', 'most deletes on the primary: N or N% of the tree (default: the larger of 1,000 and 1%)')
    .option('--config <file>', 'the forward subscriber config of this node')
    .option('--reverse-config <file>', 'the reverse agent config of this node')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--timeout <s>', 'time box for each wait (reverse drain, convergence)', '600')
    .option('--json', 'print the outcome as JSON')
    .action(async (o: FailbackOptions) => {
      if (!o.plan === !o.run) throw new HpcmError('HPM_USAGE', 'give exactly one of --plan and --run');
      const timeoutS = Number(o.timeout);
      if (!(timeoutS > 0)) throw new HpcmError('HPM_USAGE', `--timeout must be a positive number of seconds (got ${o.timeout})`);
      const pair = loadFlowPair(o);
      const record = StepJournal.read(failoverJournalOf(pair.forward))?.facts.record as FailoverRecord | undefined;
      const t0Ns = o.since !== undefined ? parseSinceTime(o.since) : record ? BigInt(record.t0Ns) : undefined;
      if (t0Ns === undefined) throw new HpcmError('HPM_FAILBACK_NO_FAILOVER', `no failover record in ${failoverJournalOf(pair.forward)}: run \`hpcmirror failover\` first, or give --since TIME (and --manifest FILE for deletes)`);
      const manifest = o.manifest ?? (o.since === undefined ? record?.manifest : undefined);
      const log = { info: (m: string) => { if (!o.json) process.stdout.write(`failback: ${m}\n`); } };
      if (!manifest) log.info('no T0 manifest: no deletes will be proposed (never inferred from absence alone)');
      const sides = await openMirrorSides(pair.forward, loggerFor(pair.forward, 'failback'));
      let writer: PrimaryWriter | undefined;
      try {
        const inputs: FailbackInputs = {
          ...pair, primary: sides.source, secondary: sides.destination,
          t0Ns, manifest, maxDelete: o.maxDelete, compare: compareOptions({}), timeoutS, log,
        };
        if (o.plan) {
          const { plan, cap } = await planFailback(inputs, planPreviewOf(pair.forward));
          if (o.json) { process.stdout.write(JSON.stringify({ t0: formatTime(t0Ns, 6), cap, ...plan }, null, 2) + '\n'); return; }
          process.stdout.write(`plan (T0 ${formatTime(t0Ns, 6)}, ${plan.mode === 'full' ? 'full scan: the reverse queue overflowed' : 'changed on the secondary since T0'}):\n`);
          await printPlanHead(plan.file, 50);
          process.stdout.write(`${plan.updates} to copy back, ${plan.conflicts} conflicts, ${plan.deletes} deletes (cap ${cap}${plan.deletes > cap ? ': OVER THE CAP, --run would stop' : ''}), ${plan.keptChangedOnPrimary} deleted on the secondary but changed on the primary since T0 (kept); the whole plan: ${plan.file}\n`);
          return;
        }
        writer = await primaryWriterFor(pair.forward, log);
        const r = await runFailback({ ...inputs, writer });
        if (o.json) process.stdout.write(JSON.stringify({ ok: true, ...r }, null, 2) + '\n');
        else process.stdout.write(`failback: done: ${r.plan.updates} copied back, ${r.conflicts} conflict copies, ${r.deleted} deleted, ${r.forwarded} primary changes forwarded; the forward flow runs again\n`);
      } finally {
        await Promise.all([sides.close(), writer?.close()]);
      }
    });
}
