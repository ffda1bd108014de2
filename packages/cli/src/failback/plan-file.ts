/**
 * The plan of a failback as a file beside the T0 manifest (`failover/plan-<T0>.tsv`), written as
 * a stream while planning and read as a stream by each step, so that memory does not grow with
 * the number of paths; the journal keeps only its counts and SHA-256, which a resumed run checks
 * before following it. One line per entry, paths percent-encoded (tab, newline, CR and % too):
 *   copy      <path>                          copy back from the secondary
 *   conflict  <path>                          keep the primary's version first (also a copy line)
 *   delete    <type> <size> <mtime ns> <path> delete on the primary, if still as the manifest had it
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { HpcmError, percentDecodeToBytes, percentEncodeBytes } from '@hpcmirror/core';
import type { PlannedRemoval } from './primary-writer.js';

export type PlanLine =
  | { kind: 'copy' | 'conflict'; rel: Buffer }
  | { kind: 'delete'; rel: Buffer; planned: PlannedRemoval };

export interface PlanFileRef {
  file: string;
  sha256: string;
}

const enc = (rel: Buffer): string => percentEncodeBytes(rel, '\t\n\r');

export class PlanFileWriter {
  readonly #file: string;
  readonly #tmp: string;
  readonly #out: WriteStream;
  readonly #hash = createHash('sha256');

  constructor(file: string, header: string) {
    this.#file = file;
    this.#tmp = `${file}.${process.pid}.tmp`;
    mkdirSync(dirname(file), { recursive: true });
    this.#out = createWriteStream(this.#tmp);
    this.#write(`# ${header}\n`);
  }

  copy(rel: Buffer): Promise<void> {
    return this.#line(`copy\t${enc(rel)}\n`);
  }

  conflict(rel: Buffer): Promise<void> {
    return this.#line(`conflict\t${enc(rel)}\n`);
  }

  delete(rel: Buffer, p: PlannedRemoval): Promise<void> {
    return this.#line(`delete\t${p.type}\t${p.size}\t${p.mtimeNs}\t${enc(rel)}\n`);
  }

  /** Flushes, syncs and renames the file into place. */
  async finish(): Promise<PlanFileRef> {
    this.#out.end();
    await once(this.#out, 'finish');
    const fh = await open(this.#tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    renameSync(this.#tmp, this.#file);
    return { file: this.#file, sha256: this.#hash.digest('hex') };
  }

  abandon(): void {
    this.#out.destroy();
    rmSync(this.#tmp, { force: true });
  }

  #write(text: string): boolean {
    this.#hash.update(text);
    return this.#out.write(text);
  }

  async #line(text: string): Promise<void> {
    if (!this.#write(text)) await once(this.#out, 'drain');
  }
}

/** The plan's lines (of one kind, if given), one at a time. */
export async function* readPlan(file: string, kind?: PlanLine['kind']): AsyncGenerator<PlanLine> {
  const input = createReadStream(file);
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (!line || line.startsWith('#')) continue;
      const f = line.split('\t');
      if (kind && f[0] !== kind) continue;
      if (f[0] === 'delete') {
        yield { kind: 'delete', rel: percentDecodeToBytes(f[4]!), planned: { type: f[1] as PlannedRemoval['type'], size: Number(f[2]), mtimeNs: BigInt(f[3]!) } };
      } else {
        yield { kind: f[0] as 'copy' | 'conflict', rel: percentDecodeToBytes(f[1]!) };
      }
    }
  } finally {
    input.destroy();
  }
}

/** The plan's lines of one kind, in batches. */
export async function* planBatches(file: string, kind: PlanLine['kind'], size: number): AsyncGenerator<PlanLine[]> {
  let batch: PlanLine[] = [];
  for await (const line of readPlan(file, kind)) {
    batch.push(line);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/** Throws HPM_FAILBACK_PLAN unless the file is the one the plan step wrote. */
export async function checkPlanFile(ref: PlanFileRef, journal: string): Promise<void> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(ref.file)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new HpcmError('HPM_FAILBACK_PLAN', `${ref.file}: the plan this failback follows cannot be read (${(err as Error).message}); to plan again, move ${journal} aside`, { cause: err });
  }
  if (hash.digest('hex') !== ref.sha256) {
    throw new HpcmError('HPM_FAILBACK_PLAN', `${ref.file}: the plan this failback follows was changed since it was written; to plan again, move ${journal} aside`);
  }
}
