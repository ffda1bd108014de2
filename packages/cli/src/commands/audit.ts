import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { HpcmError, percentEncodeBytes } from '@hpcmirror/core';
import { readLatencyLog, resolveSettings, summarizeLatency, summarizeLatencyLog } from '@hpcmirror/subscriber';
import { loadRoleConfig, loggerFor, type ConfigSource } from '../context.js';
import { compareTrees } from '../audit/compare-trees.js';
import { renderLatencyReport } from '../audit/latency-report.js';
import { writeLatencyPlot } from '../audit/plot.js';
import { plotFormatOf } from '../audit/plot-render.js';
import { compareOptions, openMirrorSides } from '../mirror-sides.js';

interface AuditOptions extends ConfigSource { sample?: string; all?: boolean; checksum?: boolean; json?: boolean; limit: string; plot?: string }

export function registerAudit(program: Command): void {
  program.command('audit')
    .description('compare source and destination and print the differences and the latency report')
    .option('--config <file>', 'subscriber config')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--sample <n>', 'compare N randomly chosen paths')
    .option('--all', 'compare every path (the default)')
    .option('--checksum', 'also compare content (sha512 on each side)')
    .option('--limit <n>', 'differences to print', '50')
    .option('--json', 'print one JSON document')
    .option('--plot <file>', 'also draw the latency distribution over time into FILE (.png or .html)')
    .action(async (o: AuditOptions) => {
      const sample = o.sample === undefined || o.all ? 0 : Number(o.sample);
      if (!Number.isInteger(sample) || sample < 0) throw new HpcmError('HPM_USAGE', `--sample must be a whole number (got ${o.sample})`);
      if (o.plot !== undefined) plotFormatOf(o.plot);
      const cfg = loadRoleConfig(o, 'subscriber');
      const sides = await openMirrorSides(cfg, loggerFor(cfg, 'audit'));
      let result;
      try {
        result = await compareTrees(sides.source, sides.destination, compareOptions({ checksum: o.checksum ?? false, sample }));
      } finally {
        await sides.close();
      }
      const logFile = resolveSettings(cfg).latencyLog;
      const latency = await summarizeLatencyLog(logFile).catch(() => summarizeLatency([]));
      if (o.plot !== undefined) await writeLatencyPlot(o.plot, existsSync(logFile) ? readLatencyLog(logFile) : []);
      const diffs = result.differences.map((d) => ({ ...d, path: percentEncodeBytes(d.path) }));
      if (o.json) {
        process.stdout.write(JSON.stringify({ compared: result.compared, differences: diffs, latency, ...(o.plot !== undefined && { plot: o.plot }) }, null, 2) + '\n');
      } else {
        for (const d of diffs.slice(0, Number(o.limit))) {
          process.stdout.write(`  ${d.what.padEnd(8)} ${d.path}${d.source !== undefined ? `  (source ${d.source}, destination ${d.destination ?? '-'})` : ''}\n`);
        }
        if (diffs.length > Number(o.limit)) process.stdout.write(`  ... and ${diffs.length - Number(o.limit)} more\n`);
        process.stdout.write(`audit: ${result.compared} paths compared${o.checksum ? ' (with content)' : ''}, ${diffs.length} differences${diffs.length === 0 ? ': source and destination are identical' : ''}\n`);
        process.stdout.write(renderLatencyReport(latency) + '\n');
        if (o.plot !== undefined) process.stdout.write(`latency plot: ${o.plot}\n`);
      }
      process.exitCode = diffs.length ? 1 : 0;
    });
}
