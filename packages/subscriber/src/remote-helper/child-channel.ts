import { spawn } from 'node:child_process';
import { TransportError } from '../transports/errors.js';
import type { HelperChannel } from './client.js';

const KILL_GRACE_MS = 2000;

/**
 * Run a helper as a child process (`ssh ... host 'hpcmirror helper'`, or the helper itself in tests)
 * and speak to it over its stdin/stdout. Arguments are an array: no local shell is involved.
 */
export interface SpawnHelperOptions {
  env?: NodeJS.ProcessEnv;
  /** Turn an exit into a specific error (e.g. ssh's host key refusal); undefined = a plain close. */
  classifyExit?: (code: number | null, stderrTail: string) => TransportError | undefined;
}

export async function spawnHelperChannel(
  command: string,
  args: readonly string[],
  options: SpawnHelperOptions = {},
): Promise<HelperChannel> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) =>
      reject(new TransportError('HPM_TRANSPORT_HELPER', `cannot run ${command}: ${err.message}`, { cause: err })),
    );
  });
  let stderrTail = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-2000);
  });
  let failure: TransportError | undefined;
  const closed = new Promise<void>((resolve) =>
    child.once('close', (code) => {
      failure = options.classifyExit?.(code, stderrTail);
      resolve();
    }),
  );
  let closing = false;
  return {
    input: child.stdin,
    output: child.stdout,
    diagnostics: child.stderr,
    closed,
    failure: () => failure,
    close() {
      if (closing) return;
      closing = true;
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, KILL_GRACE_MS);
        timer.unref();
        void closed.then(() => clearTimeout(timer));
      }
    },
  };
}
