import type { Clock } from './clock.js';
import { DeadlineQueue } from './deadline-queue.js';
import { ForwardedCache, NO_KEY } from './forwarded-cache.js';
import { mergeSeqs, type SeqSet } from './seq-set.js';

/** One received message, reduced to what the decision needs; `payload` is the caller's handle. */
export interface Change<P> {
  readonly payload: P;
  readonly pathKey: number;
  /** A second hash of the path, to tell apart two paths that share a path key. */
  readonly pathCheck: number;
  /** undefined: nothing to compare on, never a duplicate. */
  readonly changeKey: number | undefined;
  /** A content change: may be held and coalesced. */
  readonly content: boolean;
  /** remove, rmdir or rename: ends the window, clears the path's entry, never suppressed. */
  readonly clears: boolean;
  /** rename: the old path, whose entry is cleared too. */
  readonly oldPathKey?: number | undefined;
  /**
   * A directory rename: the entries of every path below both names are stale too (`mv d1 d3; rm
   * d3/l1; mkdir d1; ln -s t d1/l1` can give the new link the freed inode and the same clock tick,
   * hence d1/l1's old key, while the destination's d1/l1 left with the move). The cache keeps no
   * parent links, so it forgets everything. The same for a directory whose subtree changed at once
   * (`hpcm_subtree`: two directories swapped by RENAME_EXCHANGE).
   */
  readonly clearsAll?: boolean;
  /** `hpcm_host`: seqs of different hosts are never merged into one forward. */
  readonly host: string | undefined;
  readonly seqs: SeqSet;
}

/**
 * Ranges of seqs one forward may list in `hpcm_coveredSeqs` before its window closes early, so a
 * hot path interleaved with other traffic never grows a body past the consumers' size limit.
 */
export const MAX_COVERED_RANGES = 1000;

export type ForwardCause = 'immediate' | 'leading' | 'trailing' | 'early';

/** A message to publish. Every payload in `payloads` is acked once the broker confirms it. */
export interface Forward<P> {
  readonly id: number;
  /** The newest change: its body goes out. */
  readonly change: Change<P>;
  /** Seqs this forward stands for: its own and those of the changes it superseded. */
  readonly seqs: SeqSet;
  readonly payloads: readonly P[];
  readonly cause: ForwardCause;
}

export type Decision<P> =
  | { readonly type: 'forward'; readonly forward: Forward<P> }
  /** A duplicate; when `after` is set it duplicates that unconfirmed forward: ack only once it is confirmed. */
  | { readonly type: 'suppress'; readonly change: Change<P>; readonly after: Forward<P> | undefined };

export interface WinnowerOptions {
  cacheMax: number;
  cacheTtlMs: number;
  /** 0 disables coalescing. */
  windowMs: number;
  /** Held messages (unacked) that make the oldest windows close early, so the prefetch never runs dry. */
  maxHeld: number;
  clock: Pick<Clock, 'now'>;
}

interface HeldWindow<P> {
  newest: Change<P>;
  seqs: SeqSet;
  payloads: P[];
}

/**
 * The winnow's decisions, free of any broker (semantics.md "Winnow"): per path, the key of the
 * last forward (ForwardedCache), the newest held change of an open window, and the forward still
 * waiting for its confirm. Time only moves through the clock it is given; the caller runs
 * `due()` at `nextDeadline()`.
 */
export class Winnower<P> {
  readonly #cache: ForwardedCache;
  readonly #windowMs: number;
  readonly #maxHeld: number;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #held = new Map<number, HeldWindow<P>>();
  readonly #closing = new DeadlineQueue<HeldWindow<P>>();
  readonly #inflight = new Map<number, Forward<P>>();
  #heldCount = 0;
  #ids = 0;
  #suppressed = 0;
  #coalesced = 0;

  constructor(opts: WinnowerOptions) {
    this.#cache = new ForwardedCache({ max: opts.cacheMax, ttlMs: opts.cacheTtlMs, clock: opts.clock });
    this.#windowMs = opts.windowMs;
    this.#maxHeld = Math.max(1, opts.maxHeld);
    this.#clock = opts.clock;
  }

  get cache(): ForwardedCache {
    return this.#cache;
  }

  /** Messages held unacked: the newest of each open window and those it superseded. */
  get held(): number {
    return this.#heldCount;
  }

  /** Forwards not yet confirmed. */
  get inflight(): number {
    return this.#inflight.size;
  }

  get suppressed(): number {
    return this.#suppressed;
  }

  /** Held messages replaced by a newer change of the same path. */
  get coalesced(): number {
    return this.#coalesced;
  }

  receive(c: Change<P>): Decision<P>[] {
    const out: Decision<P>[] = [];
    let window = this.#held.get(c.pathKey);
    if (window && window.newest.pathCheck !== c.pathCheck) {
      // Another path under the same key (a hash collision): its held change goes out now rather than being merged.
      out.push(this.#flush(window, 'early'));
      window = undefined;
    }
    if (c.clears) {
      // The held change goes first; then the remove/rename, and the path starts afresh.
      if (window) out.push(this.#flush(window, 'early'));
      if (c.clearsAll) this.#cache.clear();
      this.#cache.delete(c.pathKey);
      if (c.oldPathKey !== undefined) this.#cache.delete(c.oldPathKey);
      out.push(this.#send(c, c.seqs, [c.payload], 'immediate', false));
      return out;
    }
    if (window) {
      if (c.content && this.#mergeable(window, c)) {
        // Superseded, not dropped: its payload is acked with the forward of the newest.
        window.newest = c;
        window.seqs = mergeSeqs(window.seqs, c.seqs);
        window.payloads.push(c.payload);
        this.#heldCount++;
        this.#coalesced++;
        if (window.seqs.length >= 2 * MAX_COVERED_RANGES) out.push(this.#flush(window, 'early'));
        this.#relieve(out);
        return out;
      }
      out.push(this.#flush(window, 'early'));
    }
    const last = this.#cache.get(c.pathKey);
    if (last !== undefined && c.changeKey !== undefined && last === c.changeKey) {
      this.#suppressed++;
      out.push({ type: 'suppress', change: c, after: this.#inflight.get(c.pathKey) });
      return out;
    }
    if (c.content && this.#windowMs > 0 && last !== undefined) {
      const since = this.#cache.sinceForward(c.pathKey);
      if (since !== undefined && since < this.#windowMs) {
        const w: HeldWindow<P> = { newest: c, seqs: c.seqs, payloads: [c.payload] };
        this.#held.set(c.pathKey, w);
        this.#closing.push(this.#clock.now() + (this.#windowMs - since), w);
        this.#heldCount++;
        this.#relieve(out);
        return out;
      }
    }
    out.push(this.#send(c, c.seqs, [c.payload], c.content ? 'leading' : 'immediate', true));
    return out;
  }

  /** Trailing edges of the windows that have closed by now. */
  due(): Decision<P>[] {
    const out: Decision<P>[] = [];
    const now = this.#clock.now();
    for (let at = this.#closing.peekTime(); at !== undefined && at <= now; at = this.#closing.peekTime()) {
      const w = this.#closing.pop()!;
      if (this.#held.get(w.newest.pathKey) === w) out.push(this.#flush(w, 'trailing'));
    }
    return out;
  }

  /** When `due()` next has something to do, on the clock's time line. */
  nextDeadline(): number | undefined {
    for (;;) {
      const at = this.#closing.peekTime();
      if (at === undefined) return undefined;
      const top = this.#closing.pop()!;
      if (this.#held.get(top.newest.pathKey) === top) {
        this.#closing.push(at, top);
        return at;
      }
    }
  }

  confirmed(f: Forward<P>): void {
    if (this.#inflight.get(f.change.pathKey) === f) this.#inflight.delete(f.change.pathKey);
  }

  /** The forward was not confirmed: its payloads go back for a retry, so the path must not count it as sent. */
  failed(f: Forward<P>): void {
    this.confirmed(f);
    const key = f.change.changeKey ?? NO_KEY;
    if (!f.change.clears && this.#cache.peek(f.change.pathKey) === key) this.#cache.delete(f.change.pathKey);
  }

  /** Takes every held payload out (for requeueing on stop); their windows are forgotten. */
  drainHeld(): P[] {
    const out: P[] = [];
    for (const w of this.#held.values()) out.push(...w.payloads);
    this.#held.clear();
    this.#closing.clear();
    this.#heldCount = 0;
    return out;
  }

  #mergeable(w: HeldWindow<P>, c: Change<P>): boolean {
    // One forward carries one host's seqs; a different host ends the window instead.
    return w.seqs.length === 0 || (c.host !== undefined && c.host === w.newest.host);
  }

  #flush(w: HeldWindow<P>, cause: ForwardCause): Decision<P> {
    this.#held.delete(w.newest.pathKey);
    this.#heldCount -= w.payloads.length;
    // Never suppressed: even if the newest equals the last forward (A -> B -> A), B was seen after it.
    return this.#send(w.newest, w.seqs, w.payloads, cause, true);
  }

  #send(c: Change<P>, seqs: SeqSet, payloads: P[], cause: ForwardCause, remember: boolean): Decision<P> {
    const forward: Forward<P> = { id: ++this.#ids, change: c, seqs, payloads, cause };
    // Set at decision time, not at confirm: the next message of the path compares against it at once.
    if (remember) this.#cache.set(c.pathKey, c.changeKey ?? NO_KEY);
    this.#inflight.set(c.pathKey, forward);
    return { type: 'forward', forward };
  }

  #relieve(out: Decision<P>[]): void {
    while (this.#heldCount >= this.#maxHeld) {
      const w = this.#closing.pop();
      if (w === undefined) return;
      if (this.#held.get(w.newest.pathKey) === w) out.push(this.#flush(w, 'early'));
    }
  }
}
