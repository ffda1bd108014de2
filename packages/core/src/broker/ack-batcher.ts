import type { Channel, Message } from 'amqplib';

/**
 * The acks of one channel, sent at the end of the event-loop turn they were made in: a run of
 * finished deliveries with no unfinished one before it goes as a single `basic.ack multiple`, the
 * rest one by one. Handlers finish in bursts (every message waiting on the same confirm), and each
 * ack frame costs the broker a channel and a queue operation. Nothing is held past the turn, so a
 * message that takes long never delays the acks of others (nor eats into their prefetch).
 */
export class AckBatcher {
  readonly #ch: Channel;
  /** Delivered and not yet settled, by delivery tag (tags grow with each delivery on a channel). */
  readonly #open = new Map<number, Message>();
  readonly #done: Message[] = [];
  #scheduled: NodeJS.Immediate | undefined;

  constructor(ch: Channel) {
    this.#ch = ch;
  }

  delivered(msg: Message): void {
    this.#open.set(msg.fields.deliveryTag, msg);
  }

  ack(msg: Message): void {
    this.#done.push(msg);
    this.#scheduled ??= setImmediate(() => {
      try {
        this.flush();
      } catch {
        // The channel closed meanwhile: the broker redelivers what it did not get acks for.
      }
    });
  }

  /** A settlement other than an ack (nack, requeue), sent at once; the message leaves the batch. */
  settleNow(msg: Message, send: (ch: Channel) => void): void {
    this.#open.delete(msg.fields.deliveryTag);
    send(this.#ch);
  }

  /** Sends the acks made so far. Throws what amqplib throws on a closed channel (the broker redelivers). */
  flush(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    if (this.#done.length === 0) return;
    const done = new Set(this.#done.map((m) => m.fields.deliveryTag));
    this.#done.length = 0;
    // Map iteration follows insertion, which is delivery order: the finished prefix.
    let last: Message | undefined;
    let run = 0;
    for (const [tag, msg] of this.#open) {
      if (!done.has(tag)) break;
      last = msg;
      run++;
    }
    const sends: [Message, boolean][] = [];
    if (last) sends.push([last, run > 1]);
    for (const tag of done) {
      const msg = this.#open.get(tag);
      if (msg && (!last || tag > last.fields.deliveryTag)) sends.push([msg, false]);
    }
    for (const tag of done) this.#open.delete(tag);
    for (const [msg, multiple] of sends) this.#ch.ack(msg, multiple);
  }
}
