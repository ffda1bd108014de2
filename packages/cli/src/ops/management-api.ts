import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { BrokerConfig } from '@hpcmirror/core';
import { brokerTlsOptions } from './broker-tls.js';

/** One queue as the RabbitMQ management API lists it (the fields status uses). */
export interface ManagedQueue {
  name: string;
  messages: number;
  ready: number;
  unacked: number;
  consumers: number;
  /** Messages per second into the queue, delivered from it, acked (null when the broker keeps no rates). */
  publishRate: number | null;
  deliverRate: number | null;
  ackRate: number | null;
}

interface RawQueue {
  name: string;
  messages?: number;
  messages_ready?: number;
  messages_unacknowledged?: number;
  consumers?: number;
  message_stats?: {
    publish_details?: { rate?: number };
    deliver_get_details?: { rate?: number };
    ack_details?: { rate?: number };
  };
}

function getJson(url: URL, auth: string, tls: Record<string, unknown>, timeoutMs: number): Promise<{ status: number; body: unknown; date: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, {
      method: 'GET',
      headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}`, accept: 'application/json' },
      timeout: timeoutMs,
      ...(url.protocol === 'https:' && tls),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Not JSON (an error page): the status code says enough.
        }
        resolve({ status: res.statusCode ?? 0, body, date: res.headers.date });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${url.origin} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

/** Login for the management API: the broker URL's user and password (RabbitMQ users are shared). */
function authOf(brokerUrl: string): string {
  const u = new URL(brokerUrl);
  return `${decodeURIComponent(u.username) || 'guest'}:${decodeURIComponent(u.password) || 'guest'}`;
}

export function vhostOf(brokerUrl: string): string {
  return decodeURIComponent(new URL(brokerUrl).pathname.slice(1)) || '/';
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Queues of the broker URL's vhost whose names start with `prefix`, with depths and rates.
 * Also returns the server's clock (the HTTP Date header) for doctor's clock check.
 */
export async function managedQueues(managementUrl: string, broker: Pick<BrokerConfig, 'url' | 'tls'>, prefix: string, timeoutMs = 10_000): Promise<{ queues: ManagedQueue[]; serverDate: string | undefined }> {
  const url = new URL(`api/queues/${encodeURIComponent(vhostOf(broker.url))}`, managementUrl.endsWith('/') ? managementUrl : `${managementUrl}/`);
  url.searchParams.set('page', '1');
  url.searchParams.set('page_size', '500');
  url.searchParams.set('name', `^${escapeRegex(prefix)}`);
  url.searchParams.set('use_regex', 'true');
  const tls = url.protocol === 'https:' ? brokerTlsOptions(broker.tls) : {};
  const r = await getJson(url, authOf(broker.url), tls, timeoutMs);
  if (r.status === 401) throw new Error(`HTTP 401: refused for the broker user (it needs the management or monitoring tag: rabbitmqctl set_user_tags USER monitoring)`);
  if (r.status !== 200) throw new Error(`HTTP ${r.status} for ${url.pathname}`);
  const items = ((r.body as { items?: RawQueue[] }).items ?? []) as RawQueue[];
  const rate = (x: { rate?: number } | undefined): number | null => (typeof x?.rate === 'number' ? x.rate : null);
  return {
    serverDate: r.date,
    queues: items.map((q) => ({
      name: q.name,
      messages: q.messages ?? 0,
      ready: q.messages_ready ?? 0,
      unacked: q.messages_unacknowledged ?? 0,
      consumers: q.consumers ?? 0,
      publishRate: rate(q.message_stats?.publish_details),
      deliverRate: rate(q.message_stats?.deliver_get_details),
      ackRate: rate(q.message_stats?.ack_details),
    })),
  };
}

/** The management API's clock (HTTP Date, whole seconds), for doctor. */
export async function managementServerDate(managementUrl: string, broker: Pick<BrokerConfig, 'url' | 'tls'>, timeoutMs = 10_000): Promise<{ serverMs: number; localMs: number; rttMs: number }> {
  const url = new URL('api/overview', managementUrl.endsWith('/') ? managementUrl : `${managementUrl}/`);
  const t0 = Date.now();
  const r = await getJson(url, authOf(broker.url), url.protocol === 'https:' ? brokerTlsOptions(broker.tls) : {}, timeoutMs);
  const t1 = Date.now();
  const serverMs = r.date ? Date.parse(r.date) : NaN;
  if (!Number.isFinite(serverMs)) throw new Error(`management API ${url.origin}: no Date header (HTTP ${r.status})`);
  return { serverMs, localMs: (t0 + t1) / 2, rttMs: t1 - t0 };
}
