import type { Readable, Writable } from 'node:stream';
import { TransportError, showPath, sourceError } from '../transports/errors.js';
import { silentLogger, type ChecksumAlgorithm, type ListEntry, type SourceStat, type TransportLogger } from '../transports/transport.js';
import { decodePath, encodePath } from './path-codec.js';
import { STAT_FIELDS, parseStat } from './stat-codec.js';
import { GREETING, MAX_READ_LENGTH } from './wire.js';

/*
 * The subscriber-side half of the helper protocol (PROTOCOL.md). Requests made in the same tick go out
 * in one write; answers are matched by id. The helper runs behind a HelperChannel (an ssh exec channel,
 * an `ssh host helper` child, or a local child in tests); a dead channel fails what was in flight with
 * a retryable error and the next request opens a new one.
 */

/** A byte pipe to one running helper. */
export interface HelperChannel {
  /** The helper's stdin. */
  readonly input: Writable;
  /** The helper's stdout. */
  readonly output: Readable;
  /** The helper's stderr (kept for error messages). */
  readonly diagnostics?: Readable;
  /** Resolves once the channel is gone (helper exited, connection closed). */
  readonly closed: Promise<void>;
  /** End the helper now; idempotent. */
  close(): void;
  /** Once closed: a specific reason, if the channel knows one (e.g. ssh said the host key changed). */
  failure?(): TransportError | undefined;
}

export interface RemoteHelperClientConfig {
  /** For messages, e.g. `sftp helper on opsm@hpc1:22`. */
  label: string;
  openChannel: () => Promise<HelperChannel>;
  /** Time for the helper to greet after its channel opened (default 15 s). */
  startTimeoutMs?: number;
  /** Requests pending with no byte from the helper for this long fail the channel (default 30 s). */
  inactivityTimeoutMs?: number;
  logger?: TransportLogger;
}

type Answer =
  | { type: 'S'; stat: SourceStat }
  | { type: 'L'; entries: ListEntry[] }
  | { type: 'R'; target: Buffer }
  | { type: 'H'; digest: string }
  | { type: 'D'; data: Buffer }
  | { type: 'V' }
  | { type: 'E'; errno: string };

export class RemoteHelperClient {
  readonly #config: Required<Omit<RemoteHelperClientConfig, 'logger'>> & { logger: TransportLogger };
  #session: HelperSession | undefined;
  #opening: Promise<HelperSession> | undefined;
  #stopped = true;

  constructor(config: RemoteHelperClientConfig) {
    this.#config = {
      startTimeoutMs: 15_000,
      inactivityTimeoutMs: 30_000,
      logger: silentLogger,
      ...config,
    };
  }

  /** Open the channel and wait for the greeting. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#ensureSession();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const opening = this.#opening;
    const session = this.#session;
    this.#session = undefined;
    const stopped = new TransportError('HPM_TRANSPORT_STOPPED', `${this.#config.label}: stopped`);
    session?.fail(stopped);
    const late = await opening?.catch(() => undefined);
    late?.fail(stopped);
  }

  /** True while a helper is up (false before start, after stop, or between a failure and the next call). */
  get connected(): boolean {
    return this.#session?.alive ?? false;
  }

  async stat(paths: Buffer[]): Promise<(SourceStat | null)[]> {
    if (paths.length === 0) return [];
    const session = await this.#ensureSession();
    const answers = await Promise.all(paths.map((p) => session.request(`S %ID% ${encodePath(p)}`)));
    return answers.map((answer, i) => {
      if (answer.type === 'S') return answer.stat;
      const path = paths[i] as Buffer;
      if (answer.type === 'E' && isGone(answer.errno)) return null;
      throw this.#unexpected(answer, path, 'lstat');
    });
  }

  async list(dir: Buffer): Promise<ListEntry[] | null> {
    const answer = await (await this.#ensureSession()).request(`L %ID% ${encodePath(dir)}`);
    if (answer.type === 'L') return answer.entries;
    if (answer.type === 'E' && isGone(answer.errno)) return null;
    throw this.#unexpected(answer, dir, 'list');
  }

  async readlink(path: Buffer): Promise<Buffer> {
    const answer = await (await this.#ensureSession()).request(`R %ID% ${encodePath(path)}`);
    if (answer.type === 'R') return answer.target;
    if (answer.type === 'E' && answer.errno === 'EINVAL') {
      throw new TransportError('HPM_TRANSPORT_NOT_A_SYMLINK', `readlink ${showPath(path)}: not a symlink`, { path });
    }
    throw this.#unexpected(answer, path, 'readlink');
  }

  /** base64 digest, or null when the file is gone. */
  async checksum(path: Buffer, algo: ChecksumAlgorithm): Promise<string | null> {
    const answer = await (await this.#ensureSession()).request(`H %ID% ${algo} ${encodePath(path)}`);
    if (answer.type === 'H') return answer.digest;
    if (answer.type === 'E' && isGone(answer.errno)) return null;
    throw this.#unexpected(answer, path, 'checksum');
  }

  /** Up to `length` (<= 4 MiB) bytes at `offset` of a regular file; fewer only at end of file. */
  async read(path: Buffer, offset: number, length: number): Promise<Buffer> {
    if (length > MAX_READ_LENGTH) throw new RangeError(`read length ${length} > ${MAX_READ_LENGTH}`);
    const answer = await (await this.#ensureSession()).request(`G %ID% ${offset} ${length} ${encodePath(path)}`);
    if (answer.type === 'D') return answer.data;
    throw this.#unexpected(answer, path, 'read');
  }

  /** One round trip: proves the helper is alive. */
  async ping(): Promise<void> {
    const answer = await (await this.#ensureSession()).request('V %ID%');
    if (answer.type !== 'V') throw this.#unexpected(answer, Buffer.alloc(0), 'ping');
  }

  #unexpected(answer: Answer, path: Buffer, what: string): TransportError {
    if (answer.type === 'E') {
      if (answer.errno === 'EBADPATH') {
        return new TransportError('HPM_TRANSPORT_BAD_PATH', `${what} ${showPath(path)}: helper rejected the path`, { path });
      }
      return sourceError(answer.errno, path, what);
    }
    return new TransportError('HPM_TRANSPORT_HELPER', `${this.#config.label}: ${what} got a ${answer.type} answer`, {
      path,
    });
  }

  async #ensureSession(): Promise<HelperSession> {
    if (this.#stopped) throw new TransportError('HPM_TRANSPORT_STOPPED', `${this.#config.label}: not running`);
    if (this.#session?.alive) return this.#session;
    this.#opening ??= (async () => {
      try {
        const channel = await this.#config.openChannel();
        const session = new HelperSession(channel, this.#config);
        await session.ready;
        if (this.#stopped) {
          session.fail(new TransportError('HPM_TRANSPORT_STOPPED', `${this.#config.label}: stopped`));
        } else {
          this.#session = session;
        }
        return session;
      } finally {
        this.#opening = undefined;
      }
    })();
    const session = await this.#opening;
    if (!session.alive) throw new TransportError('HPM_TRANSPORT_STOPPED', `${this.#config.label}: stopped`);
    return session;
  }
}

function isGone(errno: string): boolean {
  return errno === 'ENOENT' || errno === 'ENOTDIR';
}

interface Pending {
  resolve(answer: Answer): void;
  reject(err: TransportError): void;
  entries?: ListEntry[];
}

const NEWLINE = 0x0a;
const STDERR_TAIL = 1000;

/** One helper process behind one channel. */
class HelperSession {
  readonly ready: Promise<void>;
  readonly #channel: HelperChannel;
  readonly #label: string;
  readonly #inactivityMs: number;
  readonly #logger: TransportLogger;
  readonly #pending = new Map<string, Pending>();
  #nextId = 0;
  #outbox: string[] = [];
  #flushQueued = false;
  #greeted = false;
  #greet!: { resolve(): void; reject(err: TransportError): void };
  #failure: TransportError | undefined;
  #lineParts: Buffer[] = [];
  #binary: { id: string; need: number; parts: Buffer[]; got: number } | undefined;
  #lastActivity = Date.now();
  #watchdog: NodeJS.Timeout | undefined;
  #stderrTail = '';

  constructor(channel: HelperChannel, config: Required<Omit<RemoteHelperClientConfig, 'logger'>> & { logger: TransportLogger }) {
    this.#channel = channel;
    this.#label = config.label;
    this.#inactivityMs = config.inactivityTimeoutMs;
    this.#logger = config.logger;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#greet = { resolve, reject };
    });
    const startTimer = setTimeout(() => {
      this.fail(
        new TransportError('HPM_TRANSPORT_HELPER', `${this.#label}: no greeting within ${config.startTimeoutMs} ms${this.#stderrNote()}`),
      );
    }, config.startTimeoutMs);
    this.ready.then(
      () => clearTimeout(startTimer),
      () => clearTimeout(startTimer),
    );
    channel.output.on('data', (chunk: Buffer) => this.#onData(chunk));
    channel.output.on('error', () => undefined);
    channel.input.on('error', () => undefined);
    channel.diagnostics?.on('data', (chunk: Buffer) => {
      this.#stderrTail = (this.#stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    void channel.closed.then(() => {
      // Give stderr a moment to arrive: it usually says why the helper could not start.
      setImmediate(() => {
        const code = this.#greeted ? 'HPM_TRANSPORT_CONNECTION' : 'HPM_TRANSPORT_HELPER';
        this.fail(channel.failure?.() ?? new TransportError(code, `${this.#label}: channel closed${this.#stderrNote()}`));
      });
    });
  }

  get alive(): boolean {
    return this.#failure === undefined;
  }

  /** Send one request; `%ID%` in the line is replaced by a fresh id. */
  request(template: string): Promise<Answer> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = (this.#nextId++).toString(36);
    const promise = new Promise<Answer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    if (this.#pending.size === 1) this.#armWatchdog();
    this.#outbox.push(template.replace('%ID%', id) + '\n');
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
    return promise;
  }

  /** End this session: every pending request fails with `err`. */
  fail(err: TransportError): void {
    if (this.#failure) return;
    this.#failure = err;
    clearTimeout(this.#watchdog);
    if (!this.#greeted) this.#greet.reject(err);
    for (const pending of this.#pending.values()) pending.reject(err);
    this.#pending.clear();
    this.#channel.close();
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#failure || this.#outbox.length === 0) return;
    const text = this.#outbox.join('');
    this.#outbox = [];
    this.#channel.input.write(Buffer.from(text, 'latin1'));
  }

  #armWatchdog(): void {
    this.#lastActivity = Date.now();
    clearTimeout(this.#watchdog);
    const check = (): void => {
      if (this.#failure || this.#pending.size === 0) return;
      const idle = Date.now() - this.#lastActivity;
      if (idle >= this.#inactivityMs) {
        this.fail(new TransportError('HPM_TRANSPORT_TIMEOUT', `${this.#label}: no answer for ${this.#inactivityMs} ms`));
        return;
      }
      this.#watchdog = setTimeout(check, this.#inactivityMs - idle);
      this.#watchdog.unref();
    };
    this.#watchdog = setTimeout(check, this.#inactivityMs);
    this.#watchdog.unref();
  }

  #stderrNote(): string {
    const tail = this.#stderrTail.trim().split('\n').pop();
    return tail ? ` (helper stderr: ${tail})` : '';
  }

  #onData(chunk: Buffer): void {
    this.#lastActivity = Date.now();
    let at = 0;
    try {
      while (at < chunk.length && !this.#failure) {
        if (this.#binary) {
          const binary = this.#binary;
          const take = Math.min(binary.need - binary.got, chunk.length - at);
          binary.parts.push(chunk.subarray(at, at + take));
          binary.got += take;
          at += take;
          if (binary.got === binary.need) {
            this.#binary = undefined;
            this.#settle(binary.id, { type: 'D', data: Buffer.concat(binary.parts, binary.need) });
          }
          continue;
        }
        const nl = chunk.indexOf(NEWLINE, at);
        if (nl < 0) {
          this.#lineParts.push(chunk.subarray(at));
          break;
        }
        let line = chunk.subarray(at, nl);
        if (this.#lineParts.length > 0) {
          line = Buffer.concat([...this.#lineParts, line]);
          this.#lineParts = [];
        }
        at = nl + 1;
        this.#onLine(line.toString('latin1'));
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.fail(new TransportError('HPM_TRANSPORT_HELPER', `${this.#label}: protocol error: ${why}`, { cause: err }));
    }
  }

  #onLine(line: string): void {
    if (!this.#greeted) {
      if (line !== GREETING) throw new Error(`unexpected first line ${JSON.stringify(line.slice(0, 200))}`);
      this.#greeted = true;
      this.#greet.resolve();
      return;
    }
    const fields = line.split(' ');
    const type = fields[0];
    const id = fields[1] ?? '';
    switch (type) {
      case 'S':
        expectFields(fields, 2 + STAT_FIELDS);
        this.#settle(id, { type: 'S', stat: parseStat(fields, 2) });
        return;
      case 'l': {
        expectFields(fields, 3 + STAT_FIELDS);
        const pending = this.#pending.get(id);
        if (!pending) throw new Error(`entry for unknown request ${id}`);
        (pending.entries ??= []).push({ stat: parseStat(fields, 2), name: decodePath(fields[2 + STAT_FIELDS] as string) });
        return;
      }
      case 'L': {
        expectFields(fields, 3);
        const entries = this.#pending.get(id)?.entries ?? [];
        if (String(entries.length) !== fields[2]) throw new Error(`list ${id}: ${entries.length} entries, helper said ${fields[2]}`);
        this.#settle(id, { type: 'L', entries });
        return;
      }
      case 'R':
        expectFields(fields, 3);
        this.#settle(id, { type: 'R', target: decodePath(fields[2] as string) });
        return;
      case 'H':
        expectFields(fields, 3);
        this.#settle(id, { type: 'H', digest: fields[2] as string });
        return;
      case 'D': {
        expectFields(fields, 3);
        const need = Number(fields[2]);
        if (!/^[0-9]{1,8}$/.test(fields[2] as string) || need > MAX_READ_LENGTH) throw new Error(`bad data length ${fields[2]}`);
        if (!this.#pending.has(id)) throw new Error(`data for unknown request ${id}`);
        if (need === 0) this.#settle(id, { type: 'D', data: Buffer.alloc(0) });
        else this.#binary = { id, need, parts: [], got: 0 };
        return;
      }
      case 'V':
        this.#settle(id, { type: 'V' });
        return;
      case 'E':
        expectFields(fields, 3);
        this.#settle(id, { type: 'E', errno: fields[2] as string });
        return;
      case 'X': {
        const why = fields.slice(2).join(' ');
        const pending = this.#pending.get(id);
        if (!pending) throw new Error(`helper rejected a request: ${why}`);
        this.#pending.delete(id);
        this.#logger.warn({ code: 'HPM_TRANSPORT_HELPER', why }, 'helper rejected a request');
        pending.reject(new TransportError('HPM_TRANSPORT_HELPER', `${this.#label}: helper rejected a request: ${why}`, { retryable: false }));
        return;
      }
      default:
        throw new Error(`unknown answer ${JSON.stringify(line.slice(0, 80))}`);
    }
  }

  #settle(id: string, answer: Answer): void {
    const pending = this.#pending.get(id);
    if (!pending) throw new Error(`answer for unknown request ${id}`);
    this.#pending.delete(id);
    if (this.#pending.size === 0) clearTimeout(this.#watchdog);
    pending.resolve(answer);
  }
}

function expectFields(fields: string[], count: number): void {
  if (fields.length !== count) throw new Error(`${fields[0]} answer with ${fields.length} fields, expected ${count}`);
}
