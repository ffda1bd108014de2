import { execFile } from 'node:child_process';
import { SandboxError } from './errors.js';

export interface RunCommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Names the service in errors. */
  field?: string;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (time-boxed, SIGKILL on timeout); rejects with its stderr on failure. */
export function runCommand(file: string, args: readonly string[], options: RunCommandOptions = {}): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env: options.env ?? process.env,
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 60_000,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr });
          return;
        }
        const detail = (stderr || stdout || error.message).trim().split('\n').slice(-5).join(' | ');
        reject(new SandboxError(options.field, `${file} ${args.join(' ')} failed: ${detail}`, { cause: error }));
      },
    );
  });
}
