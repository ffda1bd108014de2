/// <reference path="../../../test/infra.d.ts" />
import { randomBytes } from 'node:crypto';
import * as amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig, progressNames, type LoadedConfig } from '@hpcmirror/core';
import {
  declareReverseStages, discardForwardQueues, reverseQueueView, setAsideForwardQueues, setAsideQueueOf,
} from '../src/failback/broker-queues.js';

let conn: amqp.ChannelModel;
beforeAll(async () => { conn = await amqp.connect(inject('infra').brokerUrl); });
afterAll(async () => { await conn.close(); });

function flowConfig(extraBroker = ''): LoadedConfig {
  const flow = `fb${randomBytes(4).toString('hex')}`;
  return parseConfig([
    `flow: ${flow}`, 'user: t', `broker:\n  url: ${inject('infra').brokerUrl}${extraBroker}`, 'source_root: /fs/a', 'destination_root: /fs/b',
    'subscriber:\n  transport: local\n  shards: 2', '',
  ].join('\n'), `${flow}.yaml`);
}

async function publish(cfg: LoadedConfig, n: number, first = 1): Promise<void> {
  const ch = await conn.createConfirmChannel();
  for (let i = first; i < first + n; i++) {
    const body = { relPath: `fs/a/f${i}`, hpcm_host: 'h1', hpcm_seq: i, hpcm_eventNs: String(1_000_000n + BigInt(i)) };
    ch.publish(`${cfg.exchange}.small`, 'v03.fs.a', Buffer.from(JSON.stringify(body)), { persistent: true, headers: { hpcm_path: `fs/a/f${i}` } });
  }
  await ch.waitForConfirms();
  await ch.close();
}

describe('failover and failback on the broker', () => {
  it('the capped reverse queue keeps the newest announcements and reports the overflow (so failback does a full scan)', async () => {
    const cfg = flowConfig('\n  queue_max_length: 3');
    await declareReverseStages(cfg);
    expect(await reverseQueueView(cfg)).toEqual({ waiting: 0, overflowed: 0 });
    await publish(cfg, 3);
    expect(await reverseQueueView(cfg)).toEqual({ waiting: 3, overflowed: 0 });
    await publish(cfg, 10, 4);
    const v = await reverseQueueView(cfg);
    expect(v.overflowed).toBeGreaterThan(0);
    expect(v.waiting + v.overflowed).toBe(13);
    expect(v.waiting).toBeLessThanOrEqual(6); // 3 per shard at most
  });

  it('sets the forward messages aside with their oldest event time, then discards them reporting their seqs done', async () => {
    const cfg = flowConfig();
    await declareReverseStages(cfg); // the same stages a forward subscriber declares
    await publish(cfg, 5);
    const aside = await setAsideForwardQueues(cfg);
    expect(aside).toEqual({ queue: setAsideQueueOf(cfg), moved: 5, oldestEventNs: '1000001' });
    expect((await reverseQueueView(cfg)).waiting).toBe(0);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined); // the last check closes it with 404 on purpose
    expect((await ch.checkQueue(aside.queue)).messageCount).toBe(5);
    const progress = progressNames(cfg, 'h1');
    await ch.assertExchange(progress.exchange, 'topic', { durable: true });
    const reports = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(reports.queue, progress.exchange, progress.routingKey);
    await publish(cfg, 1, 6); // arrived after failover
    expect(await discardForwardQueues(cfg)).toEqual({ discarded: 6 });
    const seqs: number[] = [];
    for (let m = await ch.get(reports.queue, { noAck: true }); m; m = await ch.get(reports.queue, { noAck: true })) {
      const r = JSON.parse(m.content.toString()) as { state: string; seqs: [number, number][] };
      expect(r.state).toBe('applied');
      for (const [lo, hi] of r.seqs) for (let s = lo; s <= hi; s++) seqs.push(s);
    }
    expect(seqs.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    await expect(ch.checkQueue(aside.queue)).rejects.toThrow(/NOT_FOUND|404/);
  });
});
