import type { ConfirmChannel } from 'amqplib';

type ConfirmCallback = ((err: Error | null) => void) | null | false;

/**
 * When a confirm channel closes, amqplib (0.10.x) fails the callbacks of unconfirmed publishes with
 * `while (cb = unconfirmed.shift())`, which stops at the first hole: a `null` left by a message
 * confirmed out of order. Every publish behind the hole then waits for a confirm that can never come
 * (seen across a broker restart: hundreds of publishes hung until their time box). This listener runs
 * after amqplib's and fails the rest, so they are sent again on the next channel. Upstream:
 * amqp-node/amqplib#191, fixed by #846 in later majors; harmless there (nothing is left to fail).
 */
export function releaseUnconfirmedOnClose(ch: ConfirmChannel): void {
  ch.once('close', () => {
    const pending = (ch as unknown as { unconfirmed?: ConfirmCallback[] }).unconfirmed;
    if (!Array.isArray(pending)) return;
    const callbacks = pending.splice(0, pending.length);
    for (const cb of callbacks) if (cb) cb(new Error('channel closed'));
  });
}
