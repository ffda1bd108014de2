import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { describeError, PATH_HEADER, type V03Body } from '@hpcmirror/core';
import type { ResolvedChange } from '../changes/change-resolver.js';
import type { CheckpointUnit } from '../checkpoint/segment-checkpoints.js';
import type { SeqLedger } from '../checkpoint/seq-ledger.js';
import type { Clock } from '../clock.js';
import type { AgentCounters } from '../metrics.js';
import type { OutboxEntry, OutboxJournal } from './outbox-journal.js';
import type { PublishWindow } from './publish-window.js';
import { settlesWithin } from '../time-box.js';
import { buildBoundedAnnouncement } from './bounded-announcement.js';

/** The one thing the announcer needs from core's Publisher (confirms). */
export interface ConfirmingPublisher {
  publish(exchange: string, routingKey: string, body: Buffer, opts?: { headers?: Record<string, unknown>; messageId?: string }): Promise<void>;
}

export interface AnnouncerOptions {
  publisher: ConfirmingPublisher;
  journal: OutboxJournal;
  window: PublishWindow;
  ledger: SeqLedger;
  counters: AgentCounters;
  clock: Clock;
  logger: Logger;
  exchange: string;
  baseUrl: string;
  /** hpcm_host */
  host: string;
  /** from_cluster */
  cluster: string;
  /** source (the user the flow belongs to) */
  source: string;
  /** Largest body to send: inline content that would exceed it is left out. */
  maxBodyBytes: number;
}

/**
 * Numbers, journals and publishes announcements. A number is handed out, the message written to
 * the outbox journal, then published; confirms come back in any order. A publish that fails is
 * tried again until it is confirmed or the agent stops (the journal has it for the next start).
 */
export class Announcer {
  readonly #o: AnnouncerOptions;
  #stopping = false;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(o: AnnouncerOptions) {
    this.#o = o;
  }

  /**
   * Takes a window slot (waiting while the broker lags), then numbers and sends the change.
   * Returns false when the agent is stopping (nothing was sent).
   */
  async announce(change: ResolvedChange, unit?: CheckpointUnit): Promise<boolean> {
    const o = this.#o;
    if (!(await o.window.acquire())) return false;
    const seq = o.ledger.next();
    const msg = buildBoundedAnnouncement({
      ...change.facts,
      baseUrl: o.baseUrl,
      pubTimeNs: o.clock.nowNs(),
      extra: {
        hpcm_seq: seq,
        hpcm_host: o.host,
        hpcm_eventNs: change.eventNs.toString(),
        from_cluster: o.cluster,
        source: o.source,
      },
    }, o.maxBodyBytes);
    unit?.hold();
    this.#track(this.#send({ seq, topic: msg.topic, body: msg.body }, true), unit);
    return true;
  }

  /** Sends again what an earlier run journaled but never saw confirmed (same seq, same bytes). */
  async replay(entry: OutboxEntry): Promise<boolean> {
    if (!(await this.#o.window.acquire())) return false;
    this.#track(this.#send(entry, false), undefined);
    return true;
  }

  #track(p: Promise<boolean>, unit: CheckpointUnit | undefined): void {
    const o = this.#o;
    const done = p.then((confirmed) => {
      if (confirmed) unit?.release();
    }).finally(() => {
      o.window.release();
      this.#inFlight.delete(done);
    });
    this.#inFlight.add(done);
  }

  async #send(entry: OutboxEntry, journal: boolean): Promise<boolean> {
    const o = this.#o;
    const bytes = Buffer.from(JSON.stringify(entry.body));
    try {
      if (journal) await o.journal.append(entry);
    } catch (err) {
      // Without the journal entry a crash could reuse this number; stop here and let stop()/restart sort it out.
      o.logger.error({ err: describeError(err), seq: entry.seq }, 'outbox journal write failed; announcement held back');
      return false;
    }
    o.counters.published += 1;
    let delay = 200;
    for (;;) {
      if (this.#stopping) return false;
      try {
        await o.publisher.publish(o.exchange, entry.topic, bytes, {
          headers: { [PATH_HEADER]: (entry.body as V03Body).relPath },
          messageId: `${o.host}:${entry.seq}`,
        });
        o.ledger.confirm(entry.seq);
        o.counters.confirmed += 1;
        return true;
      } catch (err) {
        if (this.#stopping) return false;
        o.counters.publishRetries += 1;
        o.logger.warn({ err: describeError(err), seq: entry.seq }, 'publish not confirmed; trying again');
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** Waits up to timeoutMs for confirms of what is in flight, then gives up on the rest (journaled). */
  async stop(timeoutMs: number): Promise<void> {
    this.#o.window.close();
    const all = Promise.all([...this.#inFlight]);
    const drained = await settlesWithin(all, timeoutMs);
    this.#stopping = true;
    if (!drained) await settlesWithin(all, 1000);
  }
}
