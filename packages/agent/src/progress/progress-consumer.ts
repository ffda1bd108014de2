import { readFile } from 'node:fs/promises';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { describeError, HpcmError, type BrokerConnection } from '@hpcmirror/core';
import type { Clock } from '../clock.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { parseProgressReport, type ProgressJson, type ProgressTracker } from './progress-tracker.js';

export interface ProgressConsumerOptions {
  connection: BrokerConnection;
  names: { exchange: string; queue: string; routingKey: string };
  queueType: 'classic' | 'quorum';
  tracker: ProgressTracker;
  file: string;
  /** Highest hpcm_seq handed out so far (progress.json `assigned`). */
  assigned: () => number;
  clock: Clock;
  logger: Logger;
  /** Reports are batched into one file write at most this often. */
  flushMs?: number;
}

export async function readProgressFile(file: string): Promise<Partial<ProgressJson> | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Partial<ProgressJson>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HpcmError('HPM_STATE_CORRUPT', `${file}: not a progress file; move it aside to start over`, { cause: err });
  }
}

/**
 * Consumes this host's progress reports and keeps progress.json current. A report is acked only
 * after the file that includes it is on disk, so a crash loses none (they are redelivered, and
 * applying one twice changes nothing).
 */
export class ProgressConsumer {
  readonly #o: ProgressConsumerOptions;
  #channel: ChannelWrapper | undefined;
  #unacked: { ch: Channel; msg: ConsumeMessage }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #writtenAssigned = -1;
  #changed = true;

  constructor(o: ProgressConsumerOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    if (this.#channel) return;
    const saved = await readProgressFile(this.#o.file);
    if (saved) this.#o.tracker.load(saved);
    const { exchange, queue, routingKey } = this.#o.names;
    this.#channel = this.#o.connection.manager.createChannel({
      confirm: false,
      setup: async (ch: Channel) => {
        await ch.assertExchange(exchange, 'topic', { durable: true });
        await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': this.#o.queueType } });
        await ch.bindQueue(queue, exchange, routingKey);
        await ch.prefetch(2000);
        await ch.consume(queue, (msg) => { if (msg) this.#onMessage(ch, msg); }, { noAck: false });
      },
    });
    this.#channel.on('error', (err: Error) => this.#o.logger.warn({ err: err.message }, 'progress channel error'));
  }

  #onMessage(ch: Channel, msg: ConsumeMessage): void {
    const r = parseProgressReport(msg.content);
    if (typeof r === 'string') {
      this.#o.logger.warn({ reason: r }, 'progress report dropped: not a valid report');
    } else {
      this.#o.tracker.apply(r);
      this.#changed = true;
    }
    this.#unacked.push({ ch, msg });
    this.schedule();
  }

  /** Writes progress.json soon (batched). Called on reports and whenever `assigned` moves. */
  schedule(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#o.flushMs ?? 100);
  }

  /** Writes progress.json now if anything changed, then acks what it covers. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
    const assigned = this.#o.assigned();
    if (!this.#changed && assigned === this.#writtenAssigned && this.#unacked.length === 0) return;
    const acks = this.#unacked;
    this.#unacked = [];
    this.#changed = false;
    this.#writing = (async () => {
      try {
        await writeFileAtomic(this.#o.file, `${JSON.stringify(this.#o.tracker.toJSON(assigned, this.#o.clock.nowNs()))}\n`);
        this.#writtenAssigned = assigned;
        for (const { ch, msg } of acks) {
          try { ch.ack(msg); } catch { /* channel gone: redelivered, harmless */ }
        }
      } catch (err) {
        this.#o.logger.error({ err: describeError(err), file: this.#o.file }, 'cannot write progress file; retrying');
        this.#unacked.unshift(...acks);
        this.#changed = true;
        this.schedule();
      } finally {
        this.#writing = undefined;
      }
    })();
    await this.#writing;
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const ch = this.#channel;
    this.#channel = undefined;
    await this.flush();
    await ch?.close().catch(() => undefined);
  }
}
