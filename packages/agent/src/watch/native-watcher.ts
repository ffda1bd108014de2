import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HpcmError } from '@hpcmirror/core';
import { WatchEventDecoder, type WatchEvent } from './watch-events.js';

/** native-watch/build/hpcm-watch of this checkout (src/watch and dist/watch sit at the same depth); HPCM_WATCH_BIN overrides. */
export function defaultWatchBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.HPCM_WATCH_BIN || fileURLToPath(new URL('../../../../native-watch/build/hpcm-watch', import.meta.url));
}

export interface NativeWatcherOptions {
  dir: string;
  binary: string;
  /** Called with each batch of events, in kernel order. */
  onEvents: (events: WatchEvent[]) => void;
  /** The reader died or reported an error after it was ready. */
  onFailure: (err: HpcmError) => void;
  /** Pretend the kernel's watch limit is this (tests of the limit error). */
  maxWatches?: number;
}

function failure(dir: string, message: string): HpcmError {
  return /max_user_watches/.test(message)
    ? new HpcmError('HPM_WATCH_LIMIT', message, { field: 'watch.dirs' })
    : new HpcmError('HPM_WATCH_FAILED', `watching ${dir}: ${message}`, { field: 'watch.dirs' });
}

/**
 * One hpcm-watch process for one tree. start() resolves once every directory has its watch (the
 * `ready` event), so whatever changes after that is seen; it rejects with HPM_WATCH_LIMIT when the
 * inotify watch limit is too low for the tree.
 */
export class NativeWatcher {
  readonly #o: NativeWatcherOptions;
  #child: ChildProcess | undefined;
  #stopping = false;
  #watches = 0;

  constructor(o: NativeWatcherOptions) {
    this.#o = o;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Directories watched when the reader became ready. */
  get watches(): number {
    return this.#watches;
  }

  start(): Promise<void> {
    const { dir, binary } = this.#o;
    try {
      accessSync(binary, constants.X_OK);
    } catch {
      return Promise.reject(new HpcmError('HPM_WATCH_FAILED', `inotify reader ${binary} is missing or not executable (build it: make -C native-watch)`));
    }
    const args = [...(this.#o.maxWatches !== undefined ? ['--max-watches', String(this.#o.maxWatches)] : []), dir];
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LD_PRELOAD: '', HPCM_SHIM: '0' } });
    this.#child = child;
    const decoder = new WatchEventDecoder();
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const fail = (err: HpcmError): void => {
        if (!ready) reject(err);
        else if (!this.#stopping) this.#o.onFailure(err);
      };
      child.on('error', (err) => fail(new HpcmError('HPM_WATCH_FAILED', `starting ${binary}: ${err.message}`)));
      child.on('exit', (code, signal) => {
        if (this.#stopping) return;
        fail(new HpcmError('HPM_WATCH_FAILED', `inotify reader for ${dir} exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`));
      });
      child.stdout!.on('data', (chunk: Buffer) => {
        let events: WatchEvent[];
        try {
          events = decoder.push(chunk);
        } catch (err) {
          fail(new HpcmError('HPM_WATCH_FAILED', (err as Error).message));
          child.kill('SIGKILL');
          return;
        }
        const err = events.find((e) => e.type === 'error');
        if (err) {
          fail(failure(dir, err.path));
          return;
        }
        if (!ready) {
          const at = events.findIndex((e) => e.type === 'ready');
          if (at < 0) return;
          ready = true;
          this.#watches = Number(events[at]!.path);
          events = events.slice(at + 1);
          resolve();
        }
        if (events.length) this.#o.onEvents(events);
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || this.#stopping) return;
    this.#stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin!.end();
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  }
}
