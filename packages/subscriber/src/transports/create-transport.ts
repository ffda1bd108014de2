import { createLocalTransport, type LocalTransportConfig } from './local/local-transport.js';
import { createRsyncTransport, type RsyncTransportConfig } from './rsync/rsync-transport.js';
import { createSftpTransport, type SftpTransportConfig } from './sftp/sftp-transport.js';
import type { Transport } from './transport.js';

/** Which transport, with its own options (like rclone's registry: one entry per backend folder). */
export type TransportConfig =
  | ({ kind: 'local' } & LocalTransportConfig)
  | ({ kind: 'sftp' } & SftpTransportConfig)
  | ({ kind: 'rsync' } & RsyncTransportConfig);

/** Make (not start) the transport a config names. */
export function createTransport(config: TransportConfig): Transport {
  switch (config.kind) {
    case 'local':
      return createLocalTransport(config);
    case 'sftp':
      return createSftpTransport(config);
    case 'rsync':
      return createRsyncTransport(config);
  }
}
