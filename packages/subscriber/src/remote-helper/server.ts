import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { errnoCode } from '../transports/errors.js';
import {
  checksumSource,
  listSource,
  lstatSource,
  readlinkSource,
  readRangeSource,
} from '../transports/source-fs.js';
import { decodePath, encodePath } from './path-codec.js';
import { formatStat } from './stat-codec.js';
import { GREETING, MAX_READ_LENGTH, MAX_REQUEST_LINE, isRequestId } from './wire.js';

/*
 * The source-side half of the helper protocol (PROTOCOL.md): reads requests from `input`, answers on
 * `output`. Requests run concurrently; answers go out as they complete, coalesced into few writes.
 */

export interface RemoteHelperOptions {
  /** Requests worked on at once (default 16; file system calls run on libuv's thread pool). */
  concurrency?: number;
}

const QUEUE_HIGH = 4096;
const QUEUE_LOW = 1024;
const NEWLINE = 0x0a;

/** Serve the helper protocol until `input` ends; resolves once every answer is written. */
export async function runRemoteHelper(input: Readable, output: Writable, options: RemoteHelperOptions = {}): Promise<void> {
  const server = new HelperServer(input, output, options.concurrency ?? 16);
  await server.run();
}

class HelperServer {
  readonly #input: Readable;
  readonly #output: Writable;
  readonly #concurrency: number;
  readonly #queue: string[] = [];
  #active = 0;
  #inputEnded = false;
  #outputBroken = false;
  #outbox: (string | Buffer)[] = [];
  #flushScheduled = false;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #discardingLongLine = false;
  #done!: () => void;

  constructor(input: Readable, output: Writable, concurrency: number) {
    this.#input = input;
    this.#output = output;
    this.#concurrency = Math.max(1, concurrency);
  }

  async run(): Promise<void> {
    const finished = new Promise<void>((resolve) => {
      this.#done = resolve;
    });
    this.#output.on('error', () => {
      // The client went away: nobody is left to answer.
      this.#outputBroken = true;
      this.#input.destroy();
      this.#done();
    });
    this.#send(`${GREETING}\n`);
    this.#input.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#input.on('end', () => {
      this.#inputEnded = true;
      this.#maybeFinish();
    });
    this.#input.on('error', () => {
      this.#inputEnded = true;
      this.#maybeFinish();
    });
    await finished;
    if (!this.#outputBroken) {
      this.#flush();
      await new Promise<void>((resolve) => this.#output.write('', () => resolve()));
    }
  }

  #onData(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, from);
      if (nl < 0) break;
      this.#acceptLine(chunk.subarray(from, nl));
      from = nl + 1;
    }
    if (from < chunk.length) {
      const rest = chunk.subarray(from);
      if (this.#partialBytes + rest.length > MAX_REQUEST_LINE) {
        this.#partial = [];
        this.#partialBytes = 0;
        if (!this.#discardingLongLine) this.#send('X - line too long\n');
        this.#discardingLongLine = true;
      } else if (!this.#discardingLongLine) {
        this.#partial.push(Buffer.from(rest));
        this.#partialBytes += rest.length;
      }
    }
    this.#pump();
  }

  #acceptLine(tail: Buffer): void {
    if (this.#discardingLongLine) {
      this.#discardingLongLine = false;
      return;
    }
    let line = tail;
    if (this.#partial.length > 0) {
      line = Buffer.concat([...this.#partial, tail]);
      this.#partial = [];
      this.#partialBytes = 0;
    }
    if (line.length > MAX_REQUEST_LINE) {
      this.#send('X - line too long\n');
      return;
    }
    if (line.length > 0) this.#queue.push(line.toString('latin1'));
    if (this.#queue.length >= QUEUE_HIGH) this.#input.pause();
  }

  #pump(): void {
    while (this.#active < this.#concurrency && this.#queue.length > 0 && !this.#outputBroken) {
      const line = this.#queue.shift() as string;
      this.#active++;
      void this.#handle(line).finally(() => {
        this.#active--;
        if (this.#queue.length <= QUEUE_LOW && this.#input.isPaused() && !this.#inputEnded) this.#input.resume();
        this.#pump();
        this.#maybeFinish();
      });
    }
  }

  #maybeFinish(): void {
    if (this.#inputEnded && this.#active === 0 && this.#queue.length === 0) this.#done();
  }

  async #handle(line: string): Promise<void> {
    const fields = line.split(' ');
    const op = fields[0] ?? '';
    const id = fields[1] ?? '';
    if (!isRequestId(id)) {
      this.#send('X - bad request id\n');
      return;
    }
    try {
      await this.#dispatch(op, id, fields);
    } catch (err) {
      this.#send(`E ${id} ${errnoCode(err) ?? 'EIO'}\n`);
    }
    if (this.#output.writableNeedDrain) await once(this.#output, 'drain').catch(() => undefined);
  }

  async #dispatch(op: string, id: string, fields: string[]): Promise<void> {
    const argc = fields.length - 2;
    const bad = (why: string): void => this.#send(`X ${id} ${why}\n`);
    switch (op) {
      case 'V':
        if (argc !== 0) return bad('V takes no arguments');
        this.#send(`V ${id} 1\n`);
        return;
      case 'S': {
        if (argc !== 1) return bad('S takes one path');
        const stat = await lstatSource(decodeOr(fields[2]));
        this.#send(stat ? `S ${id} ${formatStat(stat)}\n` : `E ${id} ENOENT\n`);
        return;
      }
      case 'L': {
        if (argc !== 1) return bad('L takes one path');
        const entries = await listSource(decodeOr(fields[2]));
        if (!entries) {
          this.#send(`E ${id} ENOENT\n`);
          return;
        }
        const lines = entries.map((e) => `l ${id} ${formatStat(e.stat)} ${encodePath(e.name)}\n`);
        lines.push(`L ${id} ${entries.length}\n`);
        this.#send(lines.join(''));
        return;
      }
      case 'R': {
        if (argc !== 1) return bad('R takes one path');
        const target = await readlinkSource(decodeOr(fields[2]));
        this.#send(`R ${id} ${encodePath(target)}\n`);
        return;
      }
      case 'H': {
        const algo = fields[2];
        if (argc !== 2 || (algo !== 'sha512' && algo !== 'md5')) return bad('H takes sha512|md5 and one path');
        const digest = await checksumSource(decodeOr(fields[3]), algo);
        this.#send(`H ${id} ${digest}\n`);
        return;
      }
      case 'G': {
        const offset = Number(fields[2]);
        const length = Number(fields[3]);
        if (argc !== 3 || !isCount(fields[2], offset) || !isCount(fields[3], length) || length > MAX_READ_LENGTH) {
          return bad(`G takes offset, length (<= ${MAX_READ_LENGTH}) and one path`);
        }
        const data = await readRangeSource(decodeOr(fields[4]), offset, length);
        this.#send(`D ${id} ${data.length}\n`);
        this.#send(data);
        return;
      }
      default:
        return bad('unknown request');
    }
  }

  #send(piece: string | Buffer): void {
    if (this.#outputBroken) return;
    this.#outbox.push(piece);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#outbox.length === 0 || this.#outputBroken) return;
    const pieces = this.#outbox;
    this.#outbox = [];
    this.#output.write(Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p))));
  }
}

class BadPathError extends Error {
  readonly code = 'EBADPATH';
}

function decodeOr(text: string | undefined): Buffer {
  try {
    return decodePath(text ?? '');
  } catch {
    throw new BadPathError('bad path encoding');
  }
}

function isCount(text: string | undefined, value: number): boolean {
  return text !== undefined && /^[0-9]{1,16}$/.test(text) && Number.isSafeInteger(value);
}
