import { fstatFd } from './at-ops.js';
import { fsyncFd } from './attrs.js';

interface Slot {
  current: Promise<void>;
  next: Promise<void> | undefined;
}

/**
 * Group commit of directory fsyncs: a rename is durable once its directory is fsynced after it. With
 * one fsync of a directory in flight, later requests for the same directory (by dev:inode) share the
 * single fsync that starts when it ends, instead of queueing one each. Many files landing in one
 * directory then cost a couple of directory fsyncs, not one per file.
 */
export class DirSync {
  readonly #slots = new Map<string, Slot>();

  async sync(dirFd: number): Promise<void> {
    const st = await fstatFd(dirFd);
    const key = `${st.dev}:${st.ino}`;
    const slot = this.#slots.get(key);
    if (!slot) {
      const current = fsyncFd(dirFd);
      const s: Slot = { current, next: undefined };
      this.#slots.set(key, s);
      this.#cleanupAfter(key, s, current);
      return current;
    }
    if (slot.next) return slot.next;
    // Our rename may postdate the fsync in flight: wait for it, then one more for everyone who came meanwhile.
    const next: Promise<void> = slot.current.catch(() => undefined).then(() => {
      slot.current = next;
      slot.next = undefined;
      return fsyncFd(dirFd);
    });
    slot.next = next;
    this.#cleanupAfter(key, slot, next);
    return next;
  }

  #cleanupAfter(key: string, slot: Slot, p: Promise<void>): void {
    p.catch(() => undefined).finally(() => {
      if (slot.current === p && slot.next === undefined && this.#slots.get(key) === slot) this.#slots.delete(key);
    }).catch(() => undefined);
  }
}
