import { LRUCache } from 'lru-cache';
import type { Clock } from './clock.js';

/** Cached for a path whose last forward carried no comparable key: never equal to a change key. */
export const NO_KEY = -1;

export interface ForwardedCacheOptions {
  max: number;
  ttlMs: number;
  clock: Pick<Clock, 'now'>;
}

/**
 * Path key -> change key of the last message forwarded for that path, bounded by `max` and `ttl`
 * (lru-cache). Both are numbers, so an entry costs a few dozen bytes whatever the path length.
 * The entry's TTL start is the time of that forward: it doubles as the start of the path's
 * coalescing window, so a quiet path costs nothing beyond its entry.
 */
export class ForwardedCache {
  readonly #lru: LRUCache<number, number>;
  readonly #ttlMs: number;
  #evictions = 0;

  constructor(opts: ForwardedCacheOptions) {
    this.#ttlMs = opts.ttlMs;
    const clock = opts.clock;
    this.#lru = new LRUCache<number, number>({
      max: opts.max,
      ttl: opts.ttlMs,
      // Read the clock on every check: a cached "now" would lag a fake clock.
      ttlResolution: 0,
      // lru-cache treats a start of 0 as "no TTL".
      perf: { now: () => Math.max(clock.now(), 1e-3) },
      noDisposeOnSet: true,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  /** The last forwarded change key (marks the path recently used), or undefined. */
  get(pathKey: number): number | undefined {
    return this.#lru.get(pathKey);
  }

  /** Records a forward now: sets the key and restarts the path's window and TTL. */
  set(pathKey: number, changeKey: number): void {
    this.#lru.set(pathKey, changeKey);
  }

  /** The key without touching recency. */
  peek(pathKey: number): number | undefined {
    return this.#lru.peek(pathKey);
  }

  delete(pathKey: number): void {
    this.#lru.delete(pathKey);
  }

  /** Forgets every path. */
  clear(): void {
    this.#lru.clear();
  }

  /** Milliseconds since the path's last forward, or undefined when it has no (live) entry. */
  sinceForward(pathKey: number): number | undefined {
    const left = this.#lru.getRemainingTTL(pathKey);
    if (left <= 0 || !Number.isFinite(left)) return undefined;
    return this.#ttlMs - left;
  }

  get size(): number {
    return this.#lru.size;
  }

  get max(): number {
    return this.#lru.max;
  }

  /** Entries dropped because the cache was full (not by TTL). */
  get evictions(): number {
    return this.#evictions;
  }
}
