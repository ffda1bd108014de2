import type { Command } from 'commander';
import { describeError } from '@hpcmirror/core';
import type { ConfigSource } from '../context.js';
import { resolveTargets } from '../ops/config-targets.js';
import { managerContext } from '../ops/process-manager.js';
import { scrubSecrets, secretsOf } from '../ops/secret-scrub.js';
import { collectStatus } from '../ops/status-collect.js';
import { renderStatus } from '../ops/status-render.js';
import { systemctlUser } from '../ops/systemd-user.js';

interface StatusOptions extends ConfigSource { json?: boolean; check?: boolean }

export function registerStatus(program: Command): void {
  program.command('status')
    .description('per component: state, uptime, rates, lag, retries, parked messages, spool; queue depths per stage')
    .argument('[component]', 'COMPONENT or COMPONENT/CONFIG (agent, winnow, subscriber; CONFIG = ~/.config/hpcmirror/CONFIG.yaml)')
    .option('--config <file>', 'config file (default: every config in ~/.config/hpcmirror, else the sandbox here)')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--json', 'print one JSON document')
    .option('--check', 'for monitoring systems: one line, exit 0 OK, 1 warning, 2 critical (thresholds: the config\'s status: section)')
    .action(async (arg: string | undefined, o: StatusOptions) => {
      let targets;
      try {
        targets = resolveTargets(arg, o);
      } catch (err) {
        // A monitoring system gets its one line even when the configs cannot be read.
        if (!o.check) throw err;
        process.stdout.write(`HPCMIRROR CRITICAL - ${describeError(err)}\n`);
        process.exitCode = 2;
        return;
      }
      const report = await collectStatus(targets, { manager: await managerContext(systemctlUser), withMetrics: o.json === true && !o.check });
      const secrets = secretsOf(targets.map((t) => t.config));
      let text: string;
      if (o.check) text = o.json ? `${JSON.stringify(report.check, null, 2)}\n` : `${report.check.line}\n`;
      else text = o.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report);
      process.stdout.write(scrubSecrets(text, secrets));
      process.exitCode = o.check ? report.check.level : report.check.level === 0 ? 0 : 1;
    });
}
