import { openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxError } from './errors.js';
import { isAlive } from './process-control.js';

/**
 * Runs `work` holding an exclusive lock file (O_EXCL, holder's pid inside), so two `sandbox up`
 * at once cannot start two brokers. A lock whose holder died is taken over.
 */
export async function withDirLock<T>(lockFile: string, work: () => Promise<T>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(lockFile, 'utf8').trim());
      } catch {
        // Released meanwhile.
      }
      if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) rmSync(lockFile, { force: true });
      else if (Date.now() >= deadline) {
        throw new SandboxError(undefined, `${lockFile} is held by pid ${holder}; another sandbox command is running`);
      } else await sleep(100);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockFile, { force: true });
  }
}
