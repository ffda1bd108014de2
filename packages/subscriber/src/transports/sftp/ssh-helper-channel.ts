import type { HelperChannel } from '../../remote-helper/client.js';
import type { SshConnection } from './ssh-connection.js';

/** Run the remote helper on an exec channel of an existing connection. */
export async function openSshHelperChannel(connection: SshConnection, command: string, timeoutMs: number): Promise<HelperChannel> {
  const stream = await connection.exec(command, timeoutMs);
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  // A dropped connection may close the channel without a 'close' event on it.
  void connection.closed.then(() => stream.emit('close'));
  let closing = false;
  return {
    input: stream,
    output: stream,
    diagnostics: stream.stderr,
    closed,
    close() {
      if (closing) return;
      closing = true;
      stream.end();
      stream.close();
    },
  };
}
