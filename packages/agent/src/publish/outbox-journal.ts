import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { V03Body } from '@hpcmirror/core';

/** One announcement as it will be (or was) published. */
export interface OutboxEntry {
  seq: number;
  topic: string;
  body: V03Body;
}

interface JournalFile {
  index: number;
  path: string;
  maxSeq: number;
  bytes: number;
}

const FILE_RE = /^outbox-(\d{8})\.jsonl$/;
const fileName = (i: number): string => `outbox-${String(i).padStart(8, '0')}.jsonl`;

export interface OutboxJournalOptions {
  /** Start a new file beyond this size. */
  maxFileBytes?: number;
  /** fdatasync before a message may be published (off only in tests that measure nothing). */
  sync?: boolean;
}

/**
 * Every announcement is written here before it is published, so that after a crash the agent
 * publishes exactly the same messages with the same `hpcm_seq` again: no number is ever reused
 * for another event, and none is skipped. Appends are group-committed (one write + fdatasync for
 * whatever accumulated meanwhile). A file is deleted once every seq in it is confirmed and that
 * fact is in the persisted checkpoint.
 */
export class OutboxJournal {
  readonly #dir: string;
  readonly #maxFileBytes: number;
  readonly #sync: boolean;
  readonly #files: JournalFile[] = [];
  #active: { file: JournalFile; fh: FileHandle } | undefined;
  #pending: { line: string; seq: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #flushing: Promise<void> | undefined;

  constructor(dir: string, o: OutboxJournalOptions = {}) {
    this.#dir = dir;
    this.#maxFileBytes = o.maxFileBytes ?? 16 << 20;
    this.#sync = o.sync ?? true;
  }

  /**
   * Reads what earlier runs left: returns the entries not yet confirmed (in seq order) and the
   * highest seq ever journaled. Torn last lines (kill -9 mid-write) are ignored.
   */
  async open(isConfirmed: (seq: number) => boolean): Promise<{ unconfirmed: OutboxEntry[]; maxSeq: number; torn: number }> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const names = (await readdir(this.#dir)).filter((n) => FILE_RE.test(n)).sort();
    const unconfirmed: OutboxEntry[] = [];
    let maxSeq = 0;
    let torn = 0;
    for (const name of names) {
      const path = join(this.#dir, name);
      const file: JournalFile = { index: Number(FILE_RE.exec(name)![1]), path, maxSeq: 0, bytes: (await stat(path)).size };
      const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line) continue;
        let e: { s: number; t: string; b: V03Body };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          torn += 1;
          continue;
        }
        if (typeof e.s !== 'number' || typeof e.t !== 'string' || typeof e.b !== 'object') { torn += 1; continue; }
        if (e.s > file.maxSeq) file.maxSeq = e.s;
        if (!isConfirmed(e.s)) unconfirmed.push({ seq: e.s, topic: e.t, body: e.b });
      }
      if (file.maxSeq > maxSeq) maxSeq = file.maxSeq;
      this.#files.push(file);
    }
    unconfirmed.sort((a, b) => a.seq - b.seq);
    return { unconfirmed, maxSeq, torn };
  }

  /** Resolves once the entry is durable. Entries are written in call order. */
  append(e: OutboxEntry): Promise<void> {
    const line = `${JSON.stringify({ s: e.seq, t: e.topic, b: e.body })}\n`;
    return new Promise((resolve, reject) => {
      this.#pending.push({ line, seq: e.seq, resolve, reject });
      this.#flushing ??= this.#flushLoop();
    });
  }

  /** Waits until everything appended so far is durable. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#pending.length) {
        const batch = this.#pending;
        this.#pending = [];
        try {
          const active = await this.#activeFile();
          const data = Buffer.from(batch.map((b) => b.line).join(''));
          await active.fh.write(data, 0, data.length, null);
          if (this.#sync) await active.fh.datasync();
          active.file.bytes += data.length;
          for (const b of batch) if (b.seq > active.file.maxSeq) active.file.maxSeq = b.seq;
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #activeFile(): Promise<{ file: JournalFile; fh: FileHandle }> {
    if (this.#active && this.#active.file.bytes < this.#maxFileBytes) return this.#active;
    if (this.#active) await this.#active.fh.close();
    const index = (this.#files.at(-1)?.index ?? 0) + 1;
    const file: JournalFile = { index, path: join(this.#dir, fileName(index)), maxSeq: 0, bytes: 0 };
    const fh = await open(file.path, 'a', 0o600);
    this.#files.push(file);
    this.#active = { file, fh };
    return this.#active;
  }

  /** Deletes files whose every seq is <= `durableBelow` (confirmed, and recorded as such on disk). */
  async collect(durableBelow: number): Promise<number> {
    let removed = 0;
    for (const f of [...this.#files]) {
      if (f === this.#active?.file || f.maxSeq > durableBelow) continue;
      await unlink(f.path).catch(() => undefined);
      this.#files.splice(this.#files.indexOf(f), 1);
      removed += 1;
    }
    return removed;
  }

  get fileCount(): number {
    return this.#files.length;
  }

  async close(): Promise<void> {
    await this.flush();
    const a = this.#active;
    this.#active = undefined;
    await a?.fh.close();
  }
}
