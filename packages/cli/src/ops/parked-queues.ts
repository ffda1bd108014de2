/**
 * The parking queues of a flow (one per stage: winnow, small and large subscribers) as an operator
 * sees them: list what rests there, send it back to its stage once the cause is fixed, or give it
 * up. Progress reports keep `hpcmirror wait` honest either way (docs/progress.md): `retried` before a
 * message goes back (its seqs are pending again), `dropped` before one is discarded.
 */
import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import {
  AcceptRejectFilter, ATTEMPTS_HEADER, decodePathField, flowNamingFor, flowTopology, LAST_ERROR_HEADER, PARKED_AT_HEADER,
  PATH_HEADER, progressNames, REJECT_HEADER, stageNames, type LoadedConfig, type Logger,
} from '@hpcmirror/core';
import { seqsOf } from '@hpcmirror/subscriber';
import { checkQueues, openProbeConnection, type ProbeConnection } from './broker-probe.js';

export type ParkedStage = 'winnow' | 'sub.small' | 'sub.large';

export interface ParkedMessage {
  stage: ParkedStage;
  queue: string;
  /** relPath as the message carries it (percent-encoded when it is not UTF-8); null if unreadable. */
  path: string | null;
  reason: string;
  /** Times it was tried before it was parked. */
  attempts: number;
  /** ISO time it was parked; null for messages parked before hpcmirror recorded it. */
  parkedAt: string | null;
  host: string | null;
  seqs: [number, number][];
  messageId: string | null;
}

/** Which parked messages a command acts on: all, or those whose source path matches a glob. */
export interface ParkedSelection {
  all?: boolean;
  pathGlob?: string;
}

interface StageQueue {
  stage: ParkedStage;
  parking: string;
  /** Where a retried message goes back in: the stage's consistent-hash exchange. */
  hashExchange: string;
}

function parkingQueuesOf(cfg: LoadedConfig): StageQueue[] {
  const t = flowTopology(flowNamingFor(cfg));
  const of = (stage: ParkedStage, spec: typeof t.winnow): StageQueue => {
    const n = stageNames(spec);
    return { stage, parking: n.parkingQueue, hashExchange: n.hashExchange };
  };
  return [of('winnow', t.winnow), of('sub.small', t.subscriberSmall), of('sub.large', t.subscriberLarge)];
}

function describe(q: StageQueue, m: GetMessage): ParkedMessage {
  const headers = (m.properties.headers ?? {}) as Record<string, unknown>;
  let body: Record<string, unknown> = {};
  try {
    const v = JSON.parse(m.content.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) body = v as Record<string, unknown>;
  } catch {
    // A malformed body is parked too: shown by its header path, if any.
  }
  const path = typeof body.relPath === 'string' ? body.relPath : typeof headers[PATH_HEADER] === 'string' ? headers[PATH_HEADER] as string : null;
  const s = seqsOf(body);
  return {
    stage: q.stage,
    queue: q.parking,
    path,
    reason: typeof headers[REJECT_HEADER] === 'string' ? headers[REJECT_HEADER] as string : '',
    attempts: (Number(headers[ATTEMPTS_HEADER] ?? 0) || 0) + 1,
    parkedAt: typeof headers[PARKED_AT_HEADER] === 'string' ? headers[PARKED_AT_HEADER] as string : null,
    host: s?.host ?? null,
    seqs: s?.seqs ?? [],
    messageId: typeof m.properties.messageId === 'string' ? m.properties.messageId : null,
  };
}

/** The selection as a predicate; the glob follows the accept/reject rules on the absolute source path. */
function selector(sel: ParkedSelection, body: (m: GetMessage) => Record<string, unknown>): (p: ParkedMessage, m: GetMessage) => boolean {
  if (sel.all || sel.pathGlob === undefined) return () => true;
  const filter = new AcceptRejectFilter([sel.pathGlob], []);
  return (p, m) => {
    if (p.path === null) return false;
    const enc = body(m).hpcm_pathEncoding === 'percent' ? 'percent' : undefined;
    const abs = Buffer.concat([Buffer.from('/'), decodePathField(p.path.replace(/^\/+/, ''), enc)]);
    return filter.accepts(abs);
  };
}

function bodyOf(m: GetMessage): Record<string, unknown> {
  try {
    const v = JSON.parse(m.content.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {};
  } catch {
    return {};
  }
}

async function withConnection<T>(cfg: LoadedConfig, fn: (conn: ProbeConnection, queues: StageQueue[]) => Promise<T>): Promise<T> {
  const conn = await openProbeConnection(cfg.broker, 'hpcmirror parked');
  try {
    const all = parkingQueuesOf(cfg);
    const present = await checkQueues(conn, all.map((q) => q.parking));
    return await fn(conn, all.filter((q) => present.get(q.parking)));
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * Takes every message of a parking queue without acking it. Whatever the caller does not ack goes
 * back, in its order, when the channel closes (nothing is lost if this process dies half way).
 */
async function takeAll(ch: Channel, queue: string): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (let m = await ch.get(queue, { noAck: false }); m; m = await ch.get(queue, { noAck: false })) out.push(m);
  return out;
}

export async function listParked(cfg: LoadedConfig, sel: ParkedSelection = {}): Promise<ParkedMessage[]> {
  return withConnection(cfg, async (conn, queues) => {
    const out: ParkedMessage[] = [];
    for (const q of queues) {
      const ch = await conn.createChannel();
      const pick = selector(sel, bodyOf);
      for (const m of await takeAll(ch, q.parking)) {
        const p = describe(q, m);
        if (pick(p, m)) out.push(p);
      }
      await ch.close();
    }
    return out;
  });
}

/** Publishes one progress report per host for these messages' seqs and waits for the confirms. */
function reportSeqs(ch: ConfirmChannel, cfg: LoadedConfig, msgs: readonly ParkedMessage[], state: 'retried' | 'dropped', reason: string): void {
  const byHost = new Map<string, { seqs: [number, number][]; paths: string[] }>();
  for (const p of msgs) {
    if (p.host === null || p.seqs.length === 0) continue;
    const h = byHost.get(p.host) ?? { seqs: [], paths: [] };
    h.seqs.push(...p.seqs);
    // One path per seq, in seq order, as the agent pairs them up (docs/progress.md).
    for (const [lo, hi] of p.seqs) for (let s = lo; s <= hi && h.paths.length < 10_000; s++) h.paths.push(p.path ?? '');
    byHost.set(p.host, h);
  }
  for (const [host, h] of byHost) {
    const report = { host, state, seqs: h.seqs, reason, paths: h.paths };
    ch.publish(progressNames(cfg, host).exchange, progressNames(cfg, host).routingKey, Buffer.from(JSON.stringify(report)), { persistent: true, contentType: 'application/json' });
  }
}

/** Headers a message collected on its way to parking; a retried message starts without them. */
function freshHeaders(h: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (k.startsWith('x-') || k === ATTEMPTS_HEADER || k === REJECT_HEADER || k === LAST_ERROR_HEADER || k === PARKED_AT_HEADER) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Sends the selected parked messages back into their stage with a fresh attempt count. Order per
 * message: the `retried` report is confirmed, then the copy is published and confirmed, and only
 * then is the parked copy acked; an interruption can duplicate a message (harmless), never lose one.
 */
export async function retryParked(cfg: LoadedConfig, sel: ParkedSelection): Promise<ParkedMessage[]> {
  return moveSelected(cfg, sel, async (ch, q, picked) => {
    reportSeqs(ch, cfg, picked.map((x) => x.p), 'retried', 'retried by the operator');
    await ch.waitForConfirms();
    for (const { m } of picked) {
      const p = m.properties;
      ch.publish(q.hashExchange, q.parking, m.content, {
        persistent: true,
        headers: freshHeaders(p.headers as Record<string, unknown> | undefined),
        ...(p.messageId && { messageId: p.messageId }),
        ...(p.contentType && { contentType: p.contentType }),
      });
    }
    await ch.waitForConfirms();
  });
}

/** Discards the selected parked messages: reported `dropped` (terminal) first, logged one line each, then acked. */
export async function dropParked(cfg: LoadedConfig, sel: ParkedSelection, log: Logger): Promise<ParkedMessage[]> {
  return moveSelected(cfg, sel, async (ch, _q, picked) => {
    reportSeqs(ch, cfg, picked.map((x) => x.p), 'dropped', 'dropped by the operator');
    await ch.waitForConfirms();
    for (const { p } of picked) log.warn({ path: p.path, queue: p.queue, reason: p.reason, host: p.host, seqs: p.seqs, parkedAt: p.parkedAt }, 'parked message dropped');
  });
}

async function moveSelected(
  cfg: LoadedConfig, sel: ParkedSelection,
  handle: (ch: ConfirmChannel, q: StageQueue, picked: { p: ParkedMessage; m: GetMessage }[]) => Promise<void>,
): Promise<ParkedMessage[]> {
  return withConnection(cfg, async (conn, queues) => {
    const done: ParkedMessage[] = [];
    for (const q of queues) {
      const ch = await conn.createConfirmChannel();
      const pick = selector(sel, bodyOf);
      const picked: { p: ParkedMessage; m: GetMessage }[] = [];
      for (const m of await takeAll(ch, q.parking)) {
        const p = describe(q, m);
        if (pick(p, m)) picked.push({ p, m });
      }
      if (picked.length) {
        if (picked.some((x) => x.p.host !== null)) await ch.assertExchange(progressNames(cfg, '').exchange, 'topic', { durable: true });
        await handle(ch, q, picked);
        for (const { m } of picked) ch.ack(m);
        done.push(...picked.map((x) => x.p));
      }
      // The rest go back to the queue as they were.
      await ch.close();
    }
    return done;
  });
}
