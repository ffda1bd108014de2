import amqp from 'amqplib';
import { redactUrl, type BrokerConfig } from '@hpcmirror/core';
import { brokerTlsOptions } from './broker-tls.js';

export type ProbeConnection = Awaited<ReturnType<typeof amqp.connect>>;

/** What went wrong talking to the broker, in one line a person can act on. */
export interface BrokerFailure {
  kind: 'refused' | 'dns' | 'timeout' | 'tls' | 'auth' | 'vhost' | 'other';
  message: string;
}

const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Classifies a connection error. Node's socket and TLS errors carry codes; amqplib's handshake
 * errors carry only the broker's reply text (`403 (ACCESS-REFUSED)`, `530 (NOT-ALLOWED)`), so those
 * are recognised by the AMQP reply code in it.
 */
export function describeBrokerFailure(err: unknown, broker: Pick<BrokerConfig, 'url' | 'tls'>): BrokerFailure {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const text = e instanceof Error ? e.message : String(err);
  const url = new URL(broker.url);
  const where = `${url.hostname}:${url.port || (url.protocol === 'amqps:' ? 5671 : 5672)}`;
  if (code === 'ECONNREFUSED') return { kind: 'refused', message: `connection refused at ${where} (broker down, or wrong port)` };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { kind: 'dns', message: `host ${url.hostname} not found (${code})` };
  if (code === 'ETIMEDOUT' || /ETIMEDOUT|timeout/i.test(text)) return { kind: 'timeout', message: `no answer from ${where} in time (firewall, or a paused broker)` };
  if (TLS_TRUST_CODES.has(code)) {
    const ca = broker.tls?.ca ? `broker.tls.ca ${broker.tls.ca}` : 'the system CA store (no broker.tls.ca set)';
    return { kind: 'tls', message: `TLS: the broker's certificate is not trusted: ${text} (${code}); checked against ${ca}` };
  }
  if (code.startsWith('ERR_SSL') || code === 'EPROTO' || (code === 'ECONNRESET' && url.protocol === 'amqps:')) {
    return { kind: 'tls', message: `TLS handshake with ${where} failed: ${text} (is it a TLS port? amqps:// usually 5671)` };
  }
  if (/\b403\b|ACCESS.REFUSED/.test(text)) {
    return { kind: 'auth', message: `login refused for user "${decodeURIComponent(url.username) || 'guest'}" (wrong password, unknown user, or no credentials for ${redactUrl(broker.url)})` };
  }
  if (/\b530\b|NOT.ALLOWED/.test(text)) {
    const vhost = decodeURIComponent(url.pathname.slice(1)) || '/';
    return { kind: 'vhost', message: `user "${decodeURIComponent(url.username)}" may not use vhost "${vhost}" (or it does not exist)` };
  }
  return { kind: 'other', message: `${text}${code ? ` (${code})` : ''}` };
}

/** A short-lived connection for looking (status, doctor): same TLS rules as the services, no retries. */
export async function openProbeConnection(broker: Pick<BrokerConfig, 'url' | 'tls'>, name: string, timeoutMs = 10_000): Promise<ProbeConnection> {
  const tls = new URL(broker.url).protocol === 'amqps:' ? brokerTlsOptions(broker.tls) : {};
  const conn = await amqp.connect(broker.url, { ...tls, timeout: timeoutMs, clientProperties: { connection_name: name } });
  // A probe connection must not crash the process when the broker drops it.
  conn.on('error', () => undefined);
  return conn;
}

export interface PassiveQueue {
  name: string;
  /** Ready messages (AMQP reports no unacked count). */
  messages: number;
  consumers: number;
}

/**
 * Passive declares (queue.declare with passive=true): message and consumer counts without
 * changing anything. A missing queue closes the channel (404), so each miss costs a new channel.
 */
export async function checkQueues(conn: ProbeConnection, names: readonly string[]): Promise<Map<string, PassiveQueue | null>> {
  const out = new Map<string, PassiveQueue | null>();
  let ch = await conn.createChannel();
  ch.on('error', () => undefined);
  try {
    for (const name of names) {
      try {
        const q = await ch.checkQueue(name);
        out.set(name, { name, messages: q.messageCount, consumers: q.consumerCount });
      } catch {
        out.set(name, null);
        ch = await conn.createChannel();
        ch.on('error', () => undefined);
      }
    }
  } finally {
    await ch.close().catch(() => undefined);
  }
  return out;
}
