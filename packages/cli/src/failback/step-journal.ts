/**
 * The log of a failover or failback: each step's outcome is written (atomically) once it is done,
 * so a re-run after an interruption skips what is done and continues at the step that was running.
 * Steps are idempotent, so re-running the interrupted one is safe.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface StepRecord {
  at: string;
  result: unknown;
}

export interface JournalJson {
  kind: 'failover' | 'failback';
  startedAt: string;
  finishedAt?: string;
  steps: Record<string, StepRecord>;
  /** Free-form facts the steps share (T0, the manifest file...). */
  facts: Record<string, unknown>;
}

export interface StepLog {
  info(msg: string): void;
}

export class StepJournal {
  readonly file: string;
  #json: JournalJson;
  readonly #log: StepLog;

  private constructor(file: string, json: JournalJson, log: StepLog) {
    this.file = file;
    this.#json = json;
    this.#log = log;
  }

  /** Opens the journal in `file`, or starts a new one. */
  static open(file: string, kind: JournalJson['kind'], log: StepLog): StepJournal {
    const json = StepJournal.read(file) ?? { kind, startedAt: new Date().toISOString(), steps: {}, facts: {} };
    return new StepJournal(file, json, log);
  }

  static read(file: string): JournalJson | undefined {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as JournalJson;
    } catch {
      return undefined;
    }
  }

  get json(): Readonly<JournalJson> {
    return this.#json;
  }

  get resumed(): boolean {
    return Object.keys(this.#json.steps).length > 0;
  }

  isDone(step: string): boolean {
    return step in this.#json.steps;
  }

  fact<T>(name: string): T | undefined {
    return this.#json.facts[name] as T | undefined;
  }

  setFact(name: string, value: unknown): void {
    this.#json.facts[name] = value;
    this.#write();
  }

  /** Runs a step unless it is done; returns its (stored) result. */
  async step<T>(name: string, describe: string, fn: () => Promise<T>): Promise<T> {
    const done = this.#json.steps[name];
    if (done) {
      this.#log.info(`${name}: done at ${done.at} (skipped)`);
      return done.result as T;
    }
    this.#log.info(`${name}: ${describe}`);
    const began = Date.now();
    const result = await fn();
    this.#json.steps[name] = { at: new Date().toISOString(), result: result ?? null };
    this.#write();
    this.#log.info(`${name}: done (${((Date.now() - began) / 1000).toFixed(1)} s)`);
    return result;
  }

  finish(): void {
    this.#json.finishedAt = new Date().toISOString();
    this.#write();
  }

  #write(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#json, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
    renameSync(tmp, this.file);
  }
}
