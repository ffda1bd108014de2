import type { Command } from 'commander';
import type { ConfigSource } from '../context.js';
import { resolveTargets } from '../ops/config-targets.js';
import { renderDoctor, runDoctor } from '../ops/doctor/doctor.js';
import { scrubSecrets, secretsOf } from '../ops/secret-scrub.js';

export function registerDoctor(program: Command): void {
  program.command('doctor')
    .description('check this node\'s setup, one line per check: shim library, spool and state dirs, broker login and TLS, ssh key and known_hosts, clocks, 0600 credentials, linger')
    .argument('[component]', 'COMPONENT or COMPONENT/CONFIG: check only what that component needs')
    .option('--config <file>', 'config file (default: every config in ~/.config/hpcmirror, else the sandbox here)')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--json', 'print one JSON document')
    .action(async (arg: string | undefined, o: ConfigSource & { json?: boolean }) => {
      const targets = resolveTargets(arg, o, process.env, { credentials: false });
      const report = await runDoctor(targets);
      const text = o.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report);
      process.stdout.write(scrubSecrets(text, secretsOf(targets.map((t) => t.config))));
      process.exitCode = report.ok ? 0 : 1;
    });
}
