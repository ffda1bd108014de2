import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * The per-event latency log `hpcmirror audit` reads: one line per applied event,
 * `<eventNs> <appliedNs> <op>\n` (decimal ns since the epoch; op = the message's change kind).
 * Append-only, written in batches; a torn last line after a crash is skipped by the reader.
 */
export interface LatencyRecord {
  eventNs: bigint;
  appliedNs: bigint;
  op: string;
}

export class LatencyLogWriter {
  readonly #file: string;
  #fd: number | undefined;
  #lines: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #flushMs: number;

  constructor(file: string, flushMs = 200) {
    this.#file = file;
    this.#flushMs = flushMs;
  }

  open(): void {
    this.#fd ??= openSync(this.#file, 'a', 0o644);
  }

  record(r: LatencyRecord): void {
    this.#lines.push(`${r.eventNs} ${r.appliedNs} ${r.op}\n`);
    if (this.#lines.length >= 1024) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#flushMs).unref();
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0 || this.#fd === undefined) return;
    const text = this.#lines.join('');
    this.#lines = [];
    writeSync(this.#fd, text);
  }

  close(): void {
    this.flush();
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

const LINE_RE = /^(-?\d+) (-?\d+) ([A-Za-z_-]+)$/;

/** Reads a latency log line by line (for `hpcmirror audit`); malformed lines are skipped. */
export async function* readLatencyLog(file: string): AsyncGenerator<LatencyRecord> {
  const rl = createInterface({ input: createReadStream(file, { encoding: 'latin1' }), crlfDelay: Infinity });
  for await (const line of rl) {
    const m = LINE_RE.exec(line);
    if (m) yield { eventNs: BigInt(m[1]!), appliedNs: BigInt(m[2]!), op: m[3]! };
  }
}

export interface LatencySummary {
  events: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  over300s: number;
  over600s: number;
}

/** The latency report of cli.md `audit`: events, mean, p50, p99, max, and how many took over 300 s and 600 s. */
export function summarizeLatency(records: Iterable<LatencyRecord>): LatencySummary {
  const ms: number[] = [];
  for (const r of records) ms.push(Math.max(0, Number(r.appliedNs - r.eventNs) / 1e6));
  ms.sort((a, b) => a - b);
  const q = (p: number): number => (ms.length ? ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)]! : 0);
  return {
    events: ms.length,
    meanMs: ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : 0,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: ms.length ? ms[ms.length - 1]! : 0,
    over300s: ms.filter((x) => x > 300_000).length,
    over600s: ms.filter((x) => x > 600_000).length,
  };
}

/** Reads and summarises a latency log file; records with eventNs before `sinceNs` are left out. */
export async function summarizeLatencyLog(file: string, sinceNs = 0n): Promise<LatencySummary> {
  const records: LatencyRecord[] = [];
  for await (const r of readLatencyLog(file)) if (r.eventNs >= sinceNs) records.push(r);
  return summarizeLatency(records);
}
