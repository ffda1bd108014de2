/**
 * A min-heap of (deadline, item). Entries are not removed when they stop mattering; the owner
 * checks each popped item against its own state (lazy deletion keeps every operation O(log n)).
 */
export class DeadlineQueue<T> {
  readonly #at: number[] = [];
  readonly #items: T[] = [];

  get size(): number {
    return this.#at.length;
  }

  push(at: number, item: T): void {
    const at_ = this.#at;
    const items = this.#items;
    let i = at_.length;
    at_.push(at);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (at_[parent]! <= at) break;
      at_[i] = at_[parent]!;
      items[i] = items[parent]!;
      i = parent;
    }
    at_[i] = at;
    items[i] = item;
  }

  peekTime(): number | undefined {
    return this.#at[0];
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const at_ = this.#at;
    const items = this.#items;
    if (at_.length === 0) return undefined;
    const top = items[0]!;
    const lastAt = at_.pop()!;
    const lastItem = items.pop()!;
    const n = at_.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && at_[r]! < at_[l]! ? r : l;
        if (at_[c]! >= lastAt) break;
        at_[i] = at_[c]!;
        items[i] = items[c]!;
        i = c;
      }
      at_[i] = lastAt;
      items[i] = lastItem;
    }
    return top;
  }

  clear(): void {
    this.#at.length = 0;
    this.#items.length = 0;
  }
}
