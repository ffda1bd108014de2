import { watch, type FSWatcher } from 'node:fs';

export interface SpoolWakeupOptions {
  dir: string;
  /** Shared file system: inotify does not see other hosts' appends, so poll. */
  shared: boolean;
  pollMs: number;
  /** Local spools are also looked at this often, in case an inotify event was missed (overflow). */
  safetyMs?: number;
  onWake: () => void;
}

/** Calls onWake when the spool may have new data: inotify for local spools, a timer for shared ones. */
export class SpoolWakeup {
  readonly #o: SpoolWakeupOptions;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: SpoolWakeupOptions) {
    this.#o = o;
  }

  start(): void {
    if (this.#timer) return;
    const { dir, shared, pollMs, onWake } = this.#o;
    if (!shared) {
      try {
        this.#watcher = watch(dir, { persistent: false }, () => onWake());
        this.#watcher.on('error', () => undefined);
      } catch {
        this.#watcher = undefined;
      }
    }
    const period = shared || !this.#watcher ? pollMs : (this.#o.safetyMs ?? 2000);
    this.#timer = setInterval(onWake, period);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
