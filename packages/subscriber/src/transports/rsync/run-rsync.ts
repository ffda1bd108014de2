import { spawn } from 'node:child_process';
import { TransportError } from '../errors.js';

export interface RsyncRun {
  code: number | null;
  stderrTail: string;
  aborted: boolean;
}

const KILL_GRACE_MS = 2000;

/**
 * Run rsync once: arguments as an array (no shell), the file list on stdin, and the staging
 * directory handed over as fd 3 so the destination can be named `/proc/self/fd/3/` whatever its bytes.
 */
export async function runRsync(binary: string, args: readonly string[], fileList: Buffer, stagingFd: number, signal?: AbortSignal): Promise<RsyncRun> {
  const child = spawn(binary, args, { stdio: ['pipe', 'ignore', 'pipe', stagingFd], env: { ...process.env, LC_ALL: 'C' } });
  const stdin = child.stdin as NonNullable<typeof child.stdin>;
  const stderr = child.stderr as NonNullable<typeof child.stderr>;
  let stderrTail = '';
  stderr.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-2000);
  });
  stdin.on('error', () => undefined);
  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, KILL_GRACE_MS);
    timer.unref();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<RsyncRun>((resolve, reject) => {
      child.once('error', (err) =>
        reject(new TransportError('HPM_TRANSPORT_CONFIG', `cannot run ${binary}: ${err.message}`, { cause: err, retryable: false })),
      );
      child.once('close', (code) => resolve({ code, stderrTail, aborted }));
      stdin.end(fileList);
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
