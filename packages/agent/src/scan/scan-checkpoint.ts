/**
 * The resumable checkpoint of one scan: an append-only journal, so recording a finished part costs
 * one small append however many parts there are (a rewrite-and-rename per part would be quadratic).
 *
 *   HPCM-SCAN-CHECKPOINT 1 {"root":..,"mode":..,...}     identity of the scan
 *   P <examined> <part key, percent-encoded; "." = the root's own entries>
 *   E <examined> <emitted> <elapsedMs>                    the scan finished
 *
 * A new journal is written to a temp name and renamed into place, so the file always has a header.
 * A torn last line (crash mid-append) is ignored and cut off on resume.
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { ScanError } from './scan-errors.js';

const MAGIC = 'HPCM-SCAN-CHECKPOINT 1 ';

/** What makes two scans the same scan (a resume must not mix them). */
export interface ScanIdentity {
  root: string;
  mode: 'list' | 'since' | 'compare';
  since?: string;
  compareWith?: string;
  partDepth: number;
  excludes: string[];
}

export interface CheckpointState {
  /** Parts finished by the interrupted run being resumed (empty for a fresh start). */
  doneParts: Buffer[];
  /** Entries examined in those parts. */
  examinedBefore: number;
  /** Total examined by the last finished scan of the same root, for an ETA. */
  previousTotal?: number;
  resumed: boolean;
}

/** Percent-encodes bytes outside 0x21-0x7e and '%' (as the remote helper protocol does). */
export function encodeKey(key: Buffer): string {
  if (key.length === 0) return '.';
  let out = '';
  for (const c of key) out += c > 0x20 && c < 0x7f && c !== 0x25 ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

export function decodeKey(s: string): Buffer {
  if (s === '.') return Buffer.alloc(0);
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(s.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}

function sameIdentity(a: ScanIdentity, b: ScanIdentity): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function checkpointError(file: string, what: string, cause: unknown): ScanError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ScanError('HPM_SCAN_CHECKPOINT', `checkpoint ${file}: ${what}: ${detail}`, { cause });
}

interface Parsed {
  identity?: ScanIdentity;
  parts: { key: Buffer; examined: number }[];
  total?: number;
  /** Byte length of the complete lines. */
  validBytes: number;
}

function parse(text: Buffer): Parsed {
  const parsed: Parsed = { parts: [], validBytes: 0 };
  let start = 0;
  for (;;) {
    const nl = text.indexOf(0x0a, start);
    if (nl < 0) break;
    const line = text.subarray(start, nl).toString('latin1');
    if (start === 0) {
      if (!line.startsWith(MAGIC)) return parsed;
      try {
        parsed.identity = JSON.parse(Buffer.from(line.slice(MAGIC.length), 'latin1').toString('utf8')) as ScanIdentity;
      } catch {
        return parsed;
      }
    } else if (line.startsWith('P ')) {
      const [, examined, key] = line.split(' ');
      if (examined === undefined || key === undefined) break;
      parsed.parts.push({ key: decodeKey(key), examined: Number(examined) });
    } else if (line.startsWith('E ')) {
      parsed.total = Number(line.split(' ')[1]);
    } else {
      break;
    }
    start = nl + 1;
    parsed.validBytes = start;
  }
  return parsed;
}

export class ScanCheckpoint {
  readonly file: string;
  #fd: number | undefined;
  #lastSync = 0;

  private constructor(file: string, fd: number) {
    this.file = file;
    this.#fd = fd;
  }

  /** Opens (resuming a matching unfinished scan) or starts the journal. */
  static open(file: string, identity: ScanIdentity): { checkpoint: ScanCheckpoint; state: CheckpointState } {
    let previous: Parsed | undefined;
    try {
      previous = parse(readFileSync(file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw checkpointError(file, 'cannot read', err);
    }
    const previousTotal = previous?.total !== undefined && previous.identity?.root === identity.root ? previous.total : undefined;
    const resumable =
      previous?.identity !== undefined && previous.total === undefined && sameIdentity(previous.identity, identity);
    try {
      if (resumable && previous) {
        const fd = openSync(file, 'r+');
        ftruncateSync(fd, previous.validBytes);
        closeSync(fd);
        const cp = new ScanCheckpoint(file, openSync(file, 'a'));
        const doneParts = previous.parts.map((p) => p.key);
        const examinedBefore = previous.parts.reduce((sum, p) => sum + p.examined, 0);
        return { checkpoint: cp, state: { doneParts, examinedBefore, resumed: true, ...(previousTotal !== undefined ? { previousTotal } : {}) } };
      }
      const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
      const fd = openSync(tmp, 'w', 0o600);
      writeSync(fd, `${MAGIC}${JSON.stringify(identity)}\n`);
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, file);
      const cp = new ScanCheckpoint(file, openSync(file, 'a'));
      return { checkpoint: cp, state: { doneParts: [], examinedBefore: 0, resumed: false, ...(previousTotal !== undefined ? { previousTotal } : {}) } };
    } catch (err) {
      throw checkpointError(file, 'cannot write', err);
    }
  }

  /** Records a part whose entries have all been handled. Synced at most once a second. */
  partDone(key: Buffer, examined: number): void {
    this.#append(`P ${examined} ${encodeKey(key)}\n`);
    const now = Date.now();
    if (now - this.#lastSync > 1000) {
      this.#lastSync = now;
      fsyncSync(this.#fd!);
    }
  }

  /** Marks the scan finished: the next run starts afresh, using `examined` for its ETA. */
  finish(examined: number, emitted: number, elapsedMs: number): void {
    this.#append(`E ${examined} ${emitted} ${Math.round(elapsedMs)}\n`);
    fsyncSync(this.#fd!);
  }

  close(): void {
    if (this.#fd === undefined) return;
    try {
      fsyncSync(this.#fd);
    } finally {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
  }

  #append(line: string): void {
    if (this.#fd === undefined) throw new ScanError('HPM_SCAN_CHECKPOINT', `checkpoint ${this.file}: already closed`);
    try {
      writeSync(this.#fd, line);
    } catch (err) {
      throw checkpointError(this.file, 'cannot append', err);
    }
  }
}
