import type { Channel, Message } from 'amqplib';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { AckBatcher } from '../src/broker/ack-batcher.js';

/** What reaches the channel: [delivery tag, multiple] for acks, [tag, 'nack'] for nacks. */
function recordingChannel(): { ch: Channel; sent: [number, boolean | 'nack'][] } {
  const sent: [number, boolean | 'nack'][] = [];
  const ch = {
    ack: (m: Message, multiple = false) => { sent.push([m.fields.deliveryTag, multiple]); },
    nack: (m: Message) => { sent.push([m.fields.deliveryTag, 'nack']); },
  } as unknown as Channel;
  return { ch, sent };
}

const msg = (tag: number): Message => ({ fields: { deliveryTag: tag } } as unknown as Message);

describe('AckBatcher', () => {
  it('acks a finished run from the oldest delivery with one multiple ack, at the end of the turn', async () => {
    const { ch, sent } = recordingChannel();
    const acks = new AckBatcher(ch);
    const m = [1, 2, 3, 4].map(msg);
    for (const x of m) acks.delivered(x);
    acks.ack(m[2]!);
    acks.ack(m[0]!);
    acks.ack(m[1]!);
    expect(sent).toEqual([]);
    await nextTurn();
    expect(sent).toEqual([[3, true]]);
    acks.ack(m[3]!);
    await nextTurn();
    expect(sent).toEqual([[3, true], [4, false]]);
  });

  it('never holds an ack behind an unfinished delivery: those after it go one by one', async () => {
    const { ch, sent } = recordingChannel();
    const acks = new AckBatcher(ch);
    const m = [1, 2, 3, 4, 5].map(msg);
    for (const x of m) acks.delivered(x);
    acks.ack(m[0]!);
    acks.ack(m[3]!);
    acks.ack(m[4]!);
    await nextTurn();
    // 2 and 3 are still being worked on: 4 and 5 must not wait for them, nor be covered by a multiple ack.
    expect(sent).toEqual([[1, false], [4, false], [5, false]]);
    acks.ack(m[2]!);
    acks.ack(m[1]!);
    await nextTurn();
    expect(sent.slice(3)).toEqual([[3, true]]);
  });

  it('a nacked delivery leaves the run at once; flush sends what is pending now', async () => {
    const { ch, sent } = recordingChannel();
    const acks = new AckBatcher(ch);
    const m = [7, 8, 9].map(msg);
    for (const x of m) acks.delivered(x);
    acks.settleNow(m[0]!, (c) => c.nack(m[0]!, false, true));
    acks.ack(m[2]!);
    acks.ack(m[1]!);
    acks.flush();
    expect(sent).toEqual([[7, 'nack'], [9, true]]);
    await nextTurn();
    expect(sent).toHaveLength(2);
  });

  it('an ack on a channel that closed meanwhile is dropped without an uncaught error', async () => {
    const ch = { ack: () => { throw new Error('Channel closed'); } } as unknown as Channel;
    const acks = new AckBatcher(ch);
    acks.delivered(msg(1));
    acks.ack(msg(1));
    await nextTurn();
    expect(() => acks.flush()).not.toThrow();
  });
});
