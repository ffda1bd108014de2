export * from './transport.js';
export * from './errors.js';
export { createTransport, type TransportConfig } from './create-transport.js';
export { createLocalTransport, type LocalTransportConfig } from './local/local-transport.js';
export { createSftpTransport, type SftpTransportConfig } from './sftp/sftp-transport.js';
export { SftpSession, type SftpSessionConfig, type SftpExtension } from './sftp/sftp-session.js';
export { createRsyncTransport, type RsyncTransportConfig } from './rsync/rsync-transport.js';
