import { constants } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { HpcmError } from '@hpcmirror/core';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One agent per state directory: two would publish every event twice and overwrite each other's
 * checkpoints and journal. The lock file holds the owner's pid; a lock left by a dead process
 * (kill -9) is taken over.
 */
export class StateLock {
  readonly #file: string;
  #held = false;

  constructor(file: string) {
    this.#file = file;
  }

  async acquire(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(this.#file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        this.#held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = Number((await readFile(this.#file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
        throw new HpcmError('HPM_STATE_LOCKED', `${this.#file}: an agent (pid ${owner}) already runs on this state directory`);
      }
      await unlink(this.#file).catch(() => undefined);
    }
    throw new HpcmError('HPM_STATE_LOCKED', `${this.#file}: cannot take the lock`);
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    await unlink(this.#file).catch(() => undefined);
  }
}
