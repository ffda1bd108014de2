import { readFileSync } from 'node:fs';
import { HpcmError, type BrokerConfig } from '@hpcmirror/core';
import { expandHome } from '../context.js';

/**
 * Socket options for an amqps:// connection, as core's BrokerConnection builds them: the configured
 * CA bundle (or the system's), an optional client certificate, and verification always on.
 */
export function brokerTlsOptions(tls: BrokerConfig['tls']): Record<string, unknown> {
  const read = (key: string, file: string): Buffer => {
    try {
      return readFileSync(expandHome(file));
    } catch (err) {
      throw new HpcmError('HPM_CONFIG_NOT_FOUND', `broker.tls.${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err, field: `broker.tls.${key}` });
    }
  };
  const o: Record<string, unknown> = { rejectUnauthorized: true };
  if (tls?.ca) o.ca = [read('ca', tls.ca)];
  if (tls?.cert) o.cert = read('cert', tls.cert);
  if (tls?.key) o.key = read('key', tls.key);
  if (tls?.servername) o.servername = tls.servername;
  return o;
}
