import { Command, CommanderError } from 'commander';
import { describeError, HpcmError } from '@hpcmirror/core';
import { registerShim } from './commands/shim.js';
import { registerServices } from './commands/services.js';
import { registerSandbox } from './commands/sandbox.js';
import { registerWait } from './commands/wait.js';
import { registerAudit } from './commands/audit.js';
import { registerDemo } from './commands/demo.js';
import { registerScan } from './commands/scan.js';
import { registerStatus } from './commands/status.js';
import { registerStartStop } from './commands/start-stop.js';
import { registerDoctor } from './commands/doctor.js';
import { registerFailover } from './commands/failover.js';
import { registerFailback } from './commands/failback.js';
import { registerWatch } from './commands/watch.js';
import { registerParked } from './commands/parked.js';

export function buildProgram(): Command {
  const program = new Command('hpcmirror')
    .description('Continuous mirroring of busy HPC file trees between clusters')
    .version('0.1.0')
    .showHelpAfterError()
    .enablePositionalOptions()
    .exitOverride();
  registerShim(program);
  registerServices(program);
  registerSandbox(program);
  registerWait(program);
  registerAudit(program);
  registerDemo(program);
  registerScan(program);
  registerStartStop(program);
  registerStatus(program);
  registerDoctor(program);
  registerFailover(program);
  registerFailback(program);
  registerWatch(program);
  registerParked(program);
  return program;
}

/** Runs the CLI; resolves with the exit status (0 ok, 1 failure, 2 usage or configuration error). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    process.stderr.write(`hpcmirror: ${describeError(err)}\n`);
    return err instanceof HpcmError ? err.exitCode : 1;
  }
}
