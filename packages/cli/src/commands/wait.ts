import type { Command } from 'commander';
import { HpcmError, percentEncodeBytes } from '@hpcmirror/core';
import { loadRoleConfig, loggerFor, type ConfigSource } from '../context.js';
import { comparePaths } from '../audit/compare-trees.js';
import { isFlowDone, waitForFlow } from '../flow-progress.js';
import { compareOptions, openMirrorSides } from '../mirror-sides.js';
import { relativeTo } from '../paths.js';

interface WaitOptions extends ConfigSource { timeout: string; json?: boolean; quiet?: boolean }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function registerWait(program: Command): void {
  program.command('wait')
    .description('return once every change announced before the call (or the given PATHs) is mirrored')
    .argument('[path...]', 'wait until these source paths are mirrored in their current state')
    .option('--config <file>', 'config file')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--timeout <s>', 'give up after S seconds (exit 1, listing what is pending)', '600')
    .option('--json', 'print the outcome as JSON')
    .action(async (paths: string[], o: WaitOptions) => {
      const timeoutS = Number(o.timeout);
      if (!(timeoutS > 0)) throw new HpcmError('HPM_USAGE', `--timeout must be a positive number of seconds (got ${o.timeout})`);
      const deadline = Date.now() + timeoutS * 1000;
      if (paths.length === 0) {
        const p = await waitForFlow(loadRoleConfig(o, 'agent', { credentials: false }), deadline);
        const ok = isFlowDone(p);
        if (o.json) process.stdout.write(JSON.stringify({ ok, ...p }, null, 2) + '\n');
        else if (ok) process.stdout.write(`mirrored: every change announced before the call is applied (${p.target} events)\n`);
        else {
          if (!p.spoolDrained) process.stdout.write('timeout: the agent has not yet published everything spooled before the call\n');
          else if (p.pending) process.stdout.write(`timeout: ${p.pending} events pending (watermark ${p.watermark} of ${p.target}${p.retrying.length ? `, ${p.retrying.length} retried from parking` : ''})\n`);
          for (const x of p.parked) process.stdout.write(`parked: seq ${x.seq} ${x.path}: ${x.reason}\n`);
          if (p.parked.length) process.stdout.write('(after fixing the cause: `hpcmirror parked retry`, or `hpcmirror parked drop` to give them up)\n');
        }
        process.exitCode = ok ? 0 : 1;
        return;
      }
      const cfg = loadRoleConfig(o, 'subscriber');
      const sides = await openMirrorSides(cfg, loggerFor(cfg, 'wait'));
      try {
        const rels = paths.map((p) => relativeTo(cfg.source_root, p));
        let diffs = await comparePaths(sides.source, sides.destination, rels, compareOptions({}));
        while (diffs.length && Date.now() < deadline) {
          await sleep(200);
          diffs = await comparePaths(sides.source, sides.destination, rels, compareOptions({}));
        }
        if (o.json) process.stdout.write(JSON.stringify({ ok: diffs.length === 0, pending: diffs.map((d) => ({ path: percentEncodeBytes(d.path), what: d.what })) }, null, 2) + '\n');
        else for (const d of diffs) process.stdout.write(`pending: ${percentEncodeBytes(d.path)} (${d.what})\n`);
        process.exitCode = diffs.length ? 1 : 0;
      } finally {
        await sides.close();
      }
    });
}
