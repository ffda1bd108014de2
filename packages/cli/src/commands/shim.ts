import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { HpcmError } from '@hpcmirror/core';
import { loadRoleConfig, type ConfigSource } from '../context.js';
import { renderExports, shimEnvironment } from '../shim-env.js';

export function registerShim(program: Command): void {
  const shim = program.command('shim').description('turn the LD_PRELOAD shim on for a shell or a command').enablePositionalOptions();

  shim.command('env')
    .description('print `export ...` lines for .bashrc: eval "$(hpcmirror shim env --config F)"')
    .option('--config <file>', 'agent config')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--json', 'print the variables as JSON')
    .action((opts: ConfigSource & { json?: boolean }) => {
      const env = shimEnvironment(loadRoleConfig(opts, 'agent', { credentials: false }));
      process.stdout.write(opts.json ? JSON.stringify(env, null, 2) + '\n' : renderExports(env));
    });

  shim.command('run')
    .description('run CMD with the shim loaded; exits with its status')
    .option('--config <file>', 'agent config')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .argument('<cmd...>', 'command and its arguments (after --)')
    .passThroughOptions()
    .action(async (cmd: string[], opts: ConfigSource) => {
      const env = shimEnvironment(loadRoleConfig(opts, 'agent', { credentials: false }));
      mkdirSync(env.HPCM_SPOOL_DIR!, { recursive: true, mode: 0o700 });
      process.exitCode = await new Promise<number>((resolve, reject) => {
        const child = spawn(cmd[0]!, cmd.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } });
        child.on('error', (err) => reject(new HpcmError('HPM_USAGE', `cannot run ${cmd[0]}: ${err.message}`)));
        child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 1) : 1)));
      });
    });
}
