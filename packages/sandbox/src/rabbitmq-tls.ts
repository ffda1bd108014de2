import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from './run-command.js';

export const OPENSSL = 'openssl';

/** A private CA and a server certificate signed by it, as PEM files. */
export interface TlsFiles {
  dir: string;
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
}

export function tlsPaths(dir: string): TlsFiles {
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    caKeyFile: join(dir, 'ca.key'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
  };
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * A throwaway CA (`CN=<caName>`) and a server certificate for 127.0.0.1 and localhost signed by it,
 * made with openssl. Kept when present, so a restarted node serves the same certificate its
 * clients already trust.
 */
export async function ensureTlsFiles(dir: string, caName = 'hpcmirror sandbox CA'): Promise<TlsFiles> {
  const files = tlsPaths(dir);
  if ([files.caFile, files.certFile, files.keyFile].every((f) => existsSync(f))) return files;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const run = (args: string[]) => runCommand(OPENSSL, args, { timeoutMs: 30_000, field: 'tls' });
  await run(['req', '-x509', ...ecKey, '-keyout', files.caKeyFile, '-out', files.caFile, '-days', '30', '-subj', `/CN=${caName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  writeFileSync(ext, [
    'basicConstraints = CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    'subjectAltName = IP:127.0.0.1, DNS:localhost',
    '',
  ].join('\n'));
  await run(['req', ...ecKey, '-keyout', files.keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await run(['x509', '-req', '-in', csr, '-CA', files.caFile, '-CAkey', files.caKeyFile, '-CAcreateserial',
    '-out', files.certFile, '-days', '30', '-extfile', ext]);
  return files;
}

/** rabbitmq.conf lines for a TLS listener on loopback that does not ask clients for certificates. */
export function tlsListenerConf(port: number, files: Pick<TlsFiles, 'caFile' | 'certFile' | 'keyFile'>): string[] {
  return [
    `listeners.ssl.default = 127.0.0.1:${port}`,
    `ssl_options.cacertfile = ${files.caFile}`,
    `ssl_options.certfile = ${files.certFile}`,
    `ssl_options.keyfile = ${files.keyFile}`,
    'ssl_options.verify = verify_none',
    'ssl_options.fail_if_no_peer_cert = false',
  ];
}
