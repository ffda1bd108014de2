import { closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

/** Lines appended before the log is rewritten from what the index holds (when that is much less). */
const REWRITE_AFTER = 50_000;

export interface HardLinkMember {
  dev: bigint;
  ino: bigint;
  path: Buffer;
}

/**
 * Keeps the hard-link index across restarts, a kill -9 included: every member the index learns or
 * forgets is appended to `<state_dir>/hardlinks.<host>.log` with a plain write (in the page cache
 * before the message is acked, so a process crash keeps it), and the log is replayed at start.
 * Without it, the first rewrite of a group after a restart re-linked only the names announced since,
 * and the other names kept the old content as a separate file (crash-restart seed 7208). Entries are
 * hints, re-checked against the source before use: a line lost to a machine crash can leave a group
 * split, never a wrong link. Line format: `a|d <dev> <ino> <path as hex>`.
 */
export class HardLinkJournal {
  readonly #file: string;
  #fd: number | undefined;
  #lines = 0;
  #onError: (err: Error) => void;

  constructor(file: string, onError: (err: Error) => void) {
    this.#file = file;
    this.#onError = onError;
  }

  /** The members the previous runs recorded and did not drop, oldest first. */
  load(): HardLinkMember[] {
    let text: string;
    try {
      text = readFileSync(this.#file, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#onError(err as Error);
      return [];
    }
    const live = new Map<string, HardLinkMember>();
    const lines = text.split('\n');
    // The last piece has no newline: a line torn by a crash (its path may be cut short), skipped.
    lines.pop();
    for (const line of lines) {
      const m = /^([ad]) (\d+) (\d+) ((?:[0-9a-f]{2})+)$/.exec(line);
      if (!m) continue;
      const key = `${m[2]} ${m[3]} ${m[4]}`;
      live.delete(key);
      if (m[1] === 'a') live.set(key, { dev: BigInt(m[2]!), ino: BigInt(m[3]!), path: Buffer.from(m[4]!, 'hex') });
    }
    return [...live.values()];
  }

  /** Starts a fresh log holding `members` (atomically: temp file, then rename), open for appends. */
  rewrite(members: Iterable<HardLinkMember>): void {
    this.close();
    const tmp = `${this.#file}.tmp`;
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        let chunk = '';
        let lines = 0;
        for (const m of members) {
          chunk += lineOf('a', m);
          lines++;
          if (chunk.length > 1 << 16) { writeSync(fd, chunk, null, 'latin1'); chunk = ''; }
        }
        if (chunk) writeSync(fd, chunk, null, 'latin1');
        this.#lines = lines;
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.#file);
      this.#fd = openSync(this.#file, 'a', 0o600);
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  /** Whether the log has grown enough past `liveMembers` to be worth rewriting. */
  wantsRewrite(liveMembers: number): boolean {
    return this.#fd !== undefined && this.#lines > REWRITE_AFTER && this.#lines > 2 * liveMembers;
  }

  added(m: HardLinkMember): void {
    this.#append(lineOf('a', m));
  }

  dropped(m: HardLinkMember): void {
    this.#append(lineOf('d', m));
  }

  close(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // nothing left to do with it
    }
    this.#fd = undefined;
  }

  #append(line: string): void {
    if (this.#fd === undefined) return;
    try {
      writeSync(this.#fd, line, null, 'latin1');
      this.#lines++;
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  /** A log that cannot be written (disk full) is given up: the index goes on in memory only. */
  #fail(err: Error): void {
    this.close();
    this.#onError(err);
  }
}

function lineOf(op: 'a' | 'd', m: HardLinkMember): string {
  return `${op} ${m.dev} ${m.ino} ${m.path.toString('hex')}\n`;
}
