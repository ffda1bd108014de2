import { redactUrl, type BrokerConfig } from '@hpcmirror/core';
import { describeBrokerFailure, openProbeConnection } from '../broker-probe.js';
import { vhostOf } from '../management-api.js';
import { fail, ok, warn, type DoctorResult } from './doctor-result.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Logs in with the configured credentials and TLS settings, exactly as the services would. */
export async function checkBrokerLogin(broker: Pick<BrokerConfig, 'url' | 'tls'>, timeoutMs = 10_000): Promise<DoctorResult> {
  const check = 'broker';
  const url = new URL(broker.url);
  const shown = redactUrl(broker.url);
  let conn;
  try {
    conn = await openProbeConnection(broker, 'hpcmirror doctor', timeoutMs);
  } catch (err) {
    return fail(check, `${shown}: ${describeBrokerFailure(err, broker).message}`);
  }
  await conn.close().catch(() => undefined);
  const who = `logged in as "${decodeURIComponent(url.username) || 'guest'}" on vhost "${vhostOf(broker.url)}"`;
  if (url.protocol === 'amqps:') {
    return ok(check, `${shown}: ${who}, TLS certificate verified against ${broker.tls?.ca ?? 'the system CA store'}`);
  }
  if (!LOOPBACK.has(url.hostname)) {
    return warn(check, `${shown}: ${who}, but without TLS: the password crosses the network in clear (use amqps:// and broker.tls.ca)`);
  }
  return ok(check, `${shown}: ${who} (loopback, no TLS)`);
}
