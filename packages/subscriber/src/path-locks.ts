/**
 * `dir`: a path's directory, held while working below it (many at once). `entry`: the path itself,
 * one holder at a time, while others may work below it (what most reconciles need: a directory's
 * attributes can change while files are written inside). `tree`: the path and everything below it
 * (moving or removing a directory).
 */
type Mode = 'dir' | 'entry' | 'tree';
const STRENGTH: Record<Mode, number> = { dir: 0, entry: 1, tree: 2 };

/**
 * Thrown by work holding its path in `entry` mode that found a destination directory to remove or
 * replace (workers may be writing below it): withLocksEscalating runs it again in `tree` mode.
 */
export class TreeLockNeeded extends Error {
  constructor(path: string) {
    super(`${path}: a destination directory must be removed or replaced; needs the path's tree lock`);
    this.name = 'TreeLockNeeded';
  }
}

interface Waiter {
  mode: Mode;
  grant: () => void;
}

interface Entry {
  /** Holders in `dir` mode. */
  dirs: number;
  entry: boolean;
  tree: boolean;
  /** First come, first served: a request waits behind any queued one (no starving a directory rename). */
  queue: Waiter[];
  /** Tick at which the newest successful reconcile of this path read the source. */
  reconciledAt: number;
}

/**
 * One path is never worked on by two workers of this process at once (the consistent-hash exchange
 * and single-active-consumer already keep a path in one process). Waiters queue in arrival order.
 *
 * A path's directories are locked too (`dir` mode): a directory rename or removal (which holds the
 * directory in `tree` mode) never runs while a worker is between finding a destination directory and
 * writing into it, so nothing lands in a directory just moved to another name or about to be removed
 * (multi-granularity locking, as databases lock a table before its rows). Only directories below
 * `root` are locked that way: the root itself is never renamed.
 *
 * Ticks order events inside the process: a message that arrived before some successful reconcile of
 * its path *read the source* is superseded by it (that reconcile saw the source after the change the
 * message announces), so it is acked without a second look.
 */
export class PathLocks {
  readonly #entries = new Map<string, Entry>();
  #tick = 0;
  #held = 0;
  /** Key of the source root: its ancestors and itself are never locked as a path's directories. */
  #root: string | undefined;

  /** Limits directory locks to directories below `root` (the source root's key). */
  constructor(root?: string) {
    if (root !== undefined) this.setRoot(root);
  }

  setRoot(root: string): void {
    this.#root = root.replace(/\/+$/, '');
  }

  tick(): number {
    return ++this.#tick;
  }

  /** Paths held now (in `entry` or `tree` mode; their directories are not counted). */
  get held(): number {
    return this.#held;
  }

  /** Entries alive (held or waited for), directories included. */
  get entries(): number {
    return this.#entries.size;
  }

  /**
   * Runs fn holding every key (in `entry` mode, or `tree`) and each key's directories below the root
   * (`dir`), taken in sorted order, so that two multi-key holders cannot deadlock (a holder only ever
   * waits for a key greater than every key it holds).
   */
  async withLocks<T>(keys: readonly string[], fn: () => Promise<T>, mode: 'entry' | 'tree' = 'entry'): Promise<T> {
    const plan = this.#plan(keys, mode);
    const taken: [string, Mode][] = [];
    try {
      for (const step of plan) {
        await this.#acquire(step[0], step[1]);
        taken.push(step);
      }
      return await fn();
    } finally {
      for (const [k, m] of taken.reverse()) this.#release(k, m);
    }
  }

  /**
   * withLocks in `mode`; when fn, holding `entry`, throws TreeLockNeeded, fn again holding `tree`
   * (after letting go: no upgrade in place, so no two upgraders wait for each other). fn is told
   * whether it holds `tree`.
   */
  async withLocksEscalating<T>(keys: readonly string[], fn: (treeLocked: boolean) => Promise<T>, mode: 'entry' | 'tree' = 'entry'): Promise<T> {
    try {
      return await this.withLocks(keys, () => fn(mode === 'tree'), mode);
    } catch (err) {
      if (mode === 'tree' || !(err instanceof TreeLockNeeded)) throw err;
      return this.withLocks(keys, () => fn(true), 'tree');
    }
  }

  /** Runs fn holding key (and its directories) if all are free now; undefined (fn not run) otherwise. */
  async tryWithLock<T>(key: string, fn: () => Promise<T>): Promise<T | undefined> {
    const plan = this.#plan([key], 'entry');
    if (!plan.every(([k, m]) => this.#grantable(k, m))) return undefined;
    for (const [k, m] of plan) this.#take(k, m);
    try {
      return await fn();
    } finally {
      for (const [k, m] of plan.reverse()) this.#release(k, m);
    }
  }

  /** Records that a reconcile of key which read the source at `tick` succeeded. Call while holding key. */
  noteReconciled(key: string, tick: number): void {
    const e = this.#entries.get(key);
    if (e && tick > e.reconciledAt) e.reconciledAt = tick;
  }

  /** Whether a reconcile that read the source after `tick` has succeeded. Call while holding key. */
  reconciledAfter(key: string, tick: number): boolean {
    return (this.#entries.get(key)?.reconciledAt ?? 0) > tick;
  }

  /** The keys in `mode`, their directories below the root in `dir` mode (the stronger wins), sorted. */
  #plan(keys: readonly string[], mode: Mode): [string, Mode][] {
    const modes = new Map<string, Mode>();
    const want = (k: string, m: Mode) => {
      const had = modes.get(k);
      if (had === undefined || STRENGTH[m] > STRENGTH[had]) modes.set(k, m);
    };
    for (const k of keys) {
      want(k, mode);
      for (const dir of this.#directoriesOf(k)) want(dir, 'dir');
    }
    return [...modes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  #directoriesOf(key: string): string[] {
    const root = this.#root;
    if (root === undefined || key.length <= root.length + 1 || !key.startsWith(root) || key[root.length] !== '/') return [];
    const dirs: string[] = [];
    for (let i = key.indexOf('/', root.length + 1); i !== -1; i = key.indexOf('/', i + 1)) dirs.push(key.slice(0, i));
    return dirs;
  }

  #grantable(key: string, mode: Mode): boolean {
    const e = this.#entries.get(key);
    return !e || (e.queue.length === 0 && compatible(e, mode));
  }

  #take(key: string, mode: Mode): void {
    let e = this.#entries.get(key);
    if (!e) {
      e = { dirs: 0, entry: false, tree: false, queue: [], reconciledAt: 0 };
      this.#entries.set(key, e);
    }
    this.#grant(e, mode);
  }

  #grant(e: Entry, mode: Mode): void {
    if (mode === 'dir') e.dirs++;
    else if (mode === 'entry') e.entry = true;
    else e.tree = true;
    if (mode !== 'dir') this.#held++;
  }

  async #acquire(key: string, mode: Mode): Promise<void> {
    if (this.#grantable(key, mode)) {
      this.#take(key, mode);
      return;
    }
    // #release grants it (the entry exists while anyone waits: #release removes only idle entries).
    await new Promise<void>((grant) => this.#entries.get(key)!.queue.push({ mode, grant }));
  }

  #release(key: string, mode: Mode): void {
    const e = this.#entries.get(key);
    if (!e) return;
    if (mode === 'dir') e.dirs--;
    else {
      if (mode === 'tree') e.tree = false;
      else e.entry = false;
      this.#held--;
    }
    // In queue order, as many as fit with what is held.
    while (e.queue.length > 0 && compatible(e, e.queue[0]!.mode)) {
      const next = e.queue.shift()!;
      this.#grant(e, next.mode);
      next.grant();
    }
    if (e.dirs === 0 && !e.entry && !e.tree && e.queue.length === 0) this.#entries.delete(key);
  }
}

function compatible(e: Entry, mode: Mode): boolean {
  if (e.tree) return false;
  switch (mode) {
    case 'dir': return true;
    case 'entry': return !e.entry;
    case 'tree': return !e.entry && e.dirs === 0;
  }
}
