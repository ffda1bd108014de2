import { TransportError, showPath } from '../errors.js';

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that ssh2 puts in `err.code`. */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;
const FAILURE = 4;

/** Map an ssh2 SFTP failure; anything without a status code means the channel or connection broke. */
export function sftpError(err: unknown, path: Buffer, what: string, connectionAlive: boolean): TransportError {
  if (err instanceof TransportError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const where = `${what} ${showPath(path)}`;
  const message = err instanceof Error ? err.message : String(err);
  if (code === NO_SUCH_FILE) return new TransportError('HPM_TRANSPORT_SOURCE_GONE', `${where}: source is gone`, { cause: err, path });
  if (code === PERMISSION_DENIED) {
    return new TransportError('HPM_TRANSPORT_SOURCE_ACCESS', `${where}: permission denied on the source`, { cause: err, path });
  }
  if (code === FAILURE && connectionAlive) {
    return new TransportError('HPM_TRANSPORT_REMOTE_IO', `${where}: the source host failed: ${message}`, { cause: err, path });
  }
  return new TransportError('HPM_TRANSPORT_CONNECTION', `${where}: connection lost: ${message}`, { cause: err, path });
}
