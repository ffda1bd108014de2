import { EventEmitter } from 'node:events';
import type { ConfirmChannel } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { releaseUnconfirmedOnClose } from '../src/broker/unconfirmed-release.js';

/** amqplib's own close handler, as in lib/channel.js: it stops at the first null hole. */
function amqplibLikeChannel(unconfirmed: (((err: Error | null) => void) | null | false)[]): EventEmitter {
  const ch = Object.assign(new EventEmitter(), { unconfirmed });
  ch.on('close', () => {
    let cb;
    while ((cb = ch.unconfirmed.shift())) cb(new Error('channel closed'));
  });
  return ch;
}

describe('releaseUnconfirmedOnClose', () => {
  it('fails every publish left behind a hole when the channel closes, once each', () => {
    const failed: number[] = [];
    const cb = (i: number) => (err: Error | null) => { if (err) failed.push(i); };
    // 0 waits; 1 was confirmed out of order (null); 2 and 3 wait; 4 published without a callback.
    const ch = amqplibLikeChannel([cb(0), null, cb(2), cb(3), false]);
    releaseUnconfirmedOnClose(ch as unknown as ConfirmChannel);
    ch.emit('close');
    expect(failed).toEqual([0, 2, 3]);
    ch.emit('close');
    expect(failed).toEqual([0, 2, 3]);
  });
});
