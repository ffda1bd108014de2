import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { describeError, HpcmError, isUnder, silentLogger, watchSchema, type WatchConfig } from '@hpcmirror/core';
import { nowMsOf, systemClock, type Clock } from '../clock.js';
import { StateLock } from '../fs/state-lock.js';
import { resolveAgentSettings, type AgentInputConfig, type AgentSettings } from '../settings.js';
import { prepareSpoolDir } from '../spool/spool-dir.js';
import { defaultWatchBinary } from './native-watcher.js';
import { SpoolWriter } from './spool-writer.js';
import { TreeIndex } from './tree-index.js';
import { TreeWatch, type TreeWatchCounters } from './tree-watch.js';

export interface WatcherOptions {
  config: AgentInputConfig & { watch?: Partial<WatchConfig> | undefined };
  logger?: Logger;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /** hpcm-watch binary (default: this checkout's, or HPCM_WATCH_BIN). */
  binary?: string;
  /** Pretend the inotify watch limit is this (tests of HPM_WATCH_LIMIT). */
  maxWatches?: number;
  /** Called when a tree can no longer be watched after start (the CLI exits on it). */
  onFailure?: (err: HpcmError) => void;
  /** Test hook: which paths are open for writing. */
  openWriters?: (paths: ReadonlySet<string>) => Set<string>;
}

export interface WatcherMetrics {
  dirs: ({ dir: string; watches: number; pending: number } & TreeWatchCounters)[];
  recordsWritten: number;
  recordsLost: number;
}

export interface Watcher {
  start(): Promise<void>;
  stop(): Promise<void>;
  metrics(): WatcherMetrics;
  /** Rescans every tree now (what poll mode does every poll_s). */
  rescan(): void;
  readonly settings: AgentSettings;
  readonly watch: WatchConfig;
}

const invalid = (msg: string, field = 'watch.dirs'): HpcmError => new HpcmError('HPM_CONFIG_INVALID', msg, { field });

/** `watch:` with its defaults; a config without the section watches source_root. */
export function watchSection(config: WatcherOptions['config']): WatchConfig {
  const parsed = watchSchema.safeParse(config.watch ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = ['watch', ...issue.path].join('.');
    throw invalid(`${field}: ${issue.message}`, field);
  }
  return parsed.data;
}

/** Where a watched tree's index lives: `<state_dir>/watch/<last component>-<hash of the path>.index`. */
export function watchIndexFile(stateDir: string, dir: string): string {
  const base = dir.split('/').filter(Boolean).pop()?.replace(/[^A-Za-z0-9._-]/g, '_') ?? 'root';
  return join(stateDir, 'watch', `${base}-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}.index`);
}

/**
 * `hpcmirror watch`: announces changes in trees no shimmed program writes (scp/sftp uploads,
 * static binaries, daemons, containers) by writing spool records like the shim's, so the agent's
 * tail, checkpoints, journal and publisher confirms carry them. Nothing runs until start().
 */
class SpoolWatcher implements Watcher {
  readonly settings: AgentSettings;
  readonly watch: WatchConfig;
  readonly #o: WatcherOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  #trees: TreeWatch[] = [];
  #spool: SpoolWriter | undefined;
  #lock: StateLock | undefined;
  #timers: NodeJS.Timeout[] = [];
  #started = false;

  constructor(o: WatcherOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
    this.#clock = o.clock ?? systemClock;
    this.settings = resolveAgentSettings(o.config, o.env);
    this.watch = watchSection(o.config);
  }

  #dirs(): string[] {
    const root = this.settings.sourceRoot;
    const dirs = (this.watch.dirs.length ? this.watch.dirs : [root.toString()]).map((d) => resolve(d));
    for (const d of dirs) {
      const b = Buffer.from(d);
      if (!b.equals(root) && !isUnder(b, root)) throw invalid(`watch.dirs: ${d} is not under source_root ${root.toString()}`);
      let st;
      try {
        st = statSync(d);
      } catch (err) {
        throw new HpcmError('HPM_WATCH_FAILED', `watch.dirs: cannot watch ${d} (${(err as NodeJS.ErrnoException).code})`, { field: 'watch.dirs' });
      }
      if (!st.isDirectory()) throw invalid(`watch.dirs: ${d} is not a directory`);
    }
    for (const a of dirs) for (const b of dirs) {
      if (a !== b && isUnder(Buffer.from(a), Buffer.from(b))) throw invalid(`watch.dirs: ${a} lies inside ${b}; list only the outer one`);
    }
    const state = realOrSelf(this.settings.stateDir);
    for (const d of dirs) {
      if (isUnder(Buffer.from(state), Buffer.from(realOrSelf(d))) || state === realOrSelf(d)) {
        throw invalid(`state_dir ${this.settings.stateDir} is inside the watched directory ${d}; the watcher would announce its own index`, 'state_dir');
      }
    }
    return dirs;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const s = this.settings;
    const w = this.watch;
    try {
      const dirs = this.#dirs();
      await prepareSpoolDir(s.spoolDir, s.sourceRoot.toString());
      mkdirSync(join(s.stateDir, 'watch'), { recursive: true, mode: 0o700 });
      this.#lock = new StateLock(join(s.stateDir, 'watch', 'watch.lock'));
      await this.#lock.acquire();
      this.#spool = new SpoolWriter({
        dir: s.spoolDir, host: s.spoolHost, bucketS: s.agent.bucket_s, maxBytes: s.agent.spool_max_bytes, nowNs: () => this.#clock.nowNs(),
      });
      const binary = this.#o.binary ?? defaultWatchBinary(this.#o.env);
      for (const dir of dirs) {
        const tree = new TreeWatch({
          dir: Buffer.from(dir).toString('latin1'),
          mode: w.mode,
          index: new TreeIndex(watchIndexFile(s.stateDir, dir)),
          spool: this.#spool,
          stableMs: w.stable_s * 1000,
          openQuietMs: w.open_quiet_s * 1000,
          compactAfter: w.compact_after,
          nowMs: () => nowMsOf(this.#clock),
          logger: this.#log,
          binary,
          ...(this.#o.maxWatches !== undefined && { maxWatches: this.#o.maxWatches }),
          onFailure: (err) => this.#failed(err),
          ...(this.#o.openWriters && { openWriters: this.#o.openWriters }),
        });
        this.#trees.push(tree);
        await tree.start();
      }
      const sweepMs = Math.max(50, Math.min(250, (w.stable_s * 1000) / 4));
      this.#timers.push(setInterval(() => this.#guard(() => { for (const t of this.#trees) t.sweep(); }), sweepMs));
      if (w.mode === 'poll') this.#timers.push(setInterval(() => this.#guard(() => this.rescan()), w.poll_s * 1000));
      this.#log.info({ dirs, mode: w.mode, spool: s.spoolDir, watches: this.#trees.reduce((n, t) => n + t.watches, 0) }, 'watcher started');
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err: describeError(err) }, 'watcher task failed; trying again at the next tick');
    }
  }

  #failed(err: HpcmError): void {
    this.#log.error({ err: describeError(err) }, 'watcher failed');
    this.#o.onFailure?.(err);
  }

  rescan(): void {
    for (const t of this.#trees) t.rescan('poll');
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    for (const t of this.#trees) await t.stop().catch(() => undefined);
    this.#trees = [];
    this.#spool?.close();
    this.#spool = undefined;
    await this.#lock?.release();
    this.#lock = undefined;
    this.#log.info('watcher stopped');
  }

  metrics(): WatcherMetrics {
    return {
      dirs: this.#trees.map((t) => ({ dir: Buffer.from(t.dir, 'latin1').toString(), watches: t.watches, pending: t.pending, ...t.counters })),
      recordsWritten: this.#spool?.written ?? 0,
      recordsLost: this.#spool?.lost ?? 0,
    };
  }
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

export function createWatcher(o: WatcherOptions): Watcher {
  return new SpoolWatcher(o);
}
