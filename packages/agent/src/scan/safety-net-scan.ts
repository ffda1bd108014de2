/**
 * The periodic safety net (`agent.safety_scan_s`): every period, `scan --since` the start of the
 * previous successful scan minus an overlap, so that lost events (a full spool, a crashed writer,
 * a program the shim could not see) are announced within about one period. A failed scan is not
 * recorded, so the next window reaches back over it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface SafetyNetLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface SafetyNetScanConfig {
  /** Period in seconds; 0 disables the service. */
  periodS: number;
  /** Reach back this much further than the previous scan's start (clock skew between nodes), default 60. */
  overlapS?: number;
  /** Remembers the start of the last successful scan across restarts (JSON, written atomically). */
  stateFile: string;
  /** Runs one scan of changes since `sinceNs` and announces them (runScan + the publisher). */
  scan: (sinceNs: bigint, signal: AbortSignal) => Promise<unknown>;
  /** ms since the epoch (default Date.now). */
  clock?: () => number;
  logger?: SafetyNetLogger;
  /** How long stop() waits for a running scan to end after aborting it (default 10 s). */
  stopTimeoutMs?: number;
}

export interface SafetyNetScan {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Runs one scan now (the timer keeps its rhythm); resolves when it ends. */
  runNow(): Promise<void>;
}

interface SafetyNetState {
  lastStartNs: string;
}

class PeriodicSinceScan implements SafetyNetScan {
  readonly #cfg: SafetyNetScanConfig;
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #started = false;

  constructor(cfg: SafetyNetScanConfig) {
    this.#cfg = cfg;
    this.#clock = cfg.clock ?? Date.now;
  }

  async start(): Promise<void> {
    if (this.#started || this.#cfg.periodS <= 0) return;
    this.#started = true;
    const last = this.#readState();
    const periodMs = this.#cfg.periodS * 1000;
    const sinceLastMs = last === undefined ? periodMs : this.#clock() - Number(last / 1_000_000n);
    this.#schedule(Math.max(0, periodMs - sinceLastMs));
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort?.abort(new Error('safety-net scan stopped'));
    const running = this.#running;
    if (running) {
      const limit = this.#cfg.stopTimeoutMs ?? 10_000;
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise<void>((done) => (timeout = setTimeout(done, limit)))]);
      clearTimeout(timeout);
    }
  }

  runNow(): Promise<void> {
    this.#running ??= this.#runOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #schedule(delayMs: number): void {
    if (!this.#started) return;
    this.#timer = setTimeout(() => {
      void this.runNow().finally(() => this.#schedule(this.#cfg.periodS * 1000));
    }, delayMs);
    this.#timer.unref?.();
  }

  async #runOnce(): Promise<void> {
    const startNs = BigInt(this.#clock()) * 1_000_000n;
    const periodNs = BigInt(Math.round(this.#cfg.periodS * 1e9));
    const overlapNs = BigInt(Math.round((this.#cfg.overlapS ?? 60) * 1e9));
    const sinceNs = (this.#readState() ?? startNs - periodNs) - overlapNs;
    this.#abort = new AbortController();
    try {
      await this.#cfg.scan(sinceNs, this.#abort.signal);
      this.#writeState(startNs);
      this.#cfg.logger?.info({ sinceNs: sinceNs.toString() }, 'safety-net scan done');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.#cfg.logger?.warn({ code, err }, 'safety-net scan failed; the next one reaches back over it');
    } finally {
      this.#abort = undefined;
    }
  }

  #readState(): bigint | undefined {
    try {
      const state = JSON.parse(readFileSync(this.#cfg.stateFile, 'utf8')) as SafetyNetState;
      return /^\d+$/.test(state.lastStartNs) ? BigInt(state.lastStartNs) : undefined;
    } catch {
      return undefined;
    }
  }

  #writeState(lastStartNs: bigint): void {
    mkdirSync(dirname(this.#cfg.stateFile), { recursive: true });
    const tmp = `${this.#cfg.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ lastStartNs: lastStartNs.toString() } satisfies SafetyNetState));
    renameSync(tmp, this.#cfg.stateFile);
  }
}

export function createSafetyNetScan(config: SafetyNetScanConfig): SafetyNetScan {
  return new PeriodicSinceScan(config);
}
