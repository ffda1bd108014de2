import type { Command } from 'commander';
import { sandboxDown, sandboxStatus, sandboxUp, type SandboxState, type SandboxTransport } from '@hpcmirror/sandbox';
import { HpcmError } from '@hpcmirror/core';
import { loadConfig } from '@hpcmirror/core';
import { cliEntry, writeSandboxConfigs } from '../sandbox/sandbox-configs.js';
import { shimEnvironment } from '../shim-env.js';

interface UpOptions { dir?: string; src?: string; dst?: string; transport?: string; json?: boolean }

/** Components of the sandbox's forward flow, started in data-flow order after broker and sshd. */
export function sandboxServices(configFile: string) {
  const run = (name: string, ...args: string[]) => ({
    name,
    argv: [process.execPath, cliEntry(), ...args, '--config', configFile],
    env: { HPCM_SHIM: '0', LD_PRELOAD: '' },
    stopTimeoutMs: 15_000,
  });
  return [run('agent', 'agent'), run('winnow', 'winnow'), run('subscriber', 'subscriber')];
}

function renderState(s: SandboxState & { alive?: Record<string, boolean> }): string {
  const lines = [
    `sandbox ${s.dir}`,
    `  broker     ${s.brokerUrl.replace(/:[^:@/]*@/, ':***@')}${s.mgmtUrl ? `   (management ${s.mgmtUrl})` : ''}`,
    `  ssh        ${s.ssh.user}@${s.ssh.host}:${s.ssh.port}   transport ${s.transport}`,
    `  mirror     ${s.src}  ->  ${s.dst}`,
  ];
  for (const [name, pid] of Object.entries(s.pids)) {
    const alive = s.alive ? (s.alive[name] ? 'running' : 'STOPPED') : 'running';
    lines.push(`  ${name.padEnd(10)} pid ${String(pid).padEnd(8)} ${alive}`);
  }
  return lines.join('\n') + '\n';
}

export function registerSandbox(program: Command): void {
  const sandbox = program.command('sandbox').description('the whole suite on this machine: private broker, loopback sshd, components');

  sandbox.command('up')
    .description('start (or show) the sandbox; returns once everything is ready')
    .option('--dir <dir>', 'sandbox directory', '.hpcmirror-sandbox')
    .option('--src <path>', 'mirrored source tree (default DIR/primary)')
    .option('--dst <path>', 'destination tree (default DIR/secondary)')
    .option('--transport <t>', 'sftp | rsync | local', 'sftp')
    .option('--json', 'print the state as JSON')
    .action(async (o: UpOptions) => {
      if (o.transport && !['sftp', 'rsync', 'local'].includes(o.transport)) {
        throw new HpcmError('HPM_USAGE', `--transport must be sftp, rsync or local (got ${o.transport})`);
      }
      const state = await sandboxUp({
        dir: o.dir, ...(o.src && { src: o.src }), ...(o.dst && { dst: o.dst }),
        transport: o.transport as SandboxTransport,
        prepare: (s) => {
          const files = writeSandboxConfigs(s);
          return { services: sandboxServices(files.forward), shimEnv: shimEnvironment(loadConfig(files.forward)), extra: { configs: files } };
        },
      });
      process.stdout.write(o.json ? JSON.stringify(state, null, 2) + '\n' : `${state.alreadyRunning ? 'already running: ' : ''}${renderState(state)}`);
    });

  sandbox.command('down')
    .description('stop everything the sandbox started (by pid); keeps the data')
    .option('--dir <dir>', 'sandbox directory', '.hpcmirror-sandbox')
    .option('--json', 'print the result as JSON')
    .action(async (o: { dir: string; json?: boolean }) => {
      const r = await sandboxDown({ dir: o.dir });
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else process.stdout.write(`stopped: ${r.stopped.join(', ') || 'nothing was running'}\n${r.leftovers.map((p) => `still using ${r.dir}: pid ${p.pid} ${p.command}\n`).join('')}`);
    });

  sandbox.command('status')
    .description('show the sandbox and whether each process is alive')
    .option('--dir <dir>', 'sandbox directory', '.hpcmirror-sandbox')
    .option('--json', 'print the state as JSON')
    .action(async (o: { dir: string; json?: boolean }) => {
      const s = await sandboxStatus({ dir: o.dir });
      if (!s) throw new HpcmError('HPM_CONFIG_NOT_FOUND', `no sandbox in ${o.dir} (run \`hpcmirror sandbox up\`)`);
      process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : renderState(s));
      if (!s.running) process.exitCode = 1;
    });
}
