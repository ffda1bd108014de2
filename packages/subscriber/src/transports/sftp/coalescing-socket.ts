import type { Socket } from 'node:net';

/**
 * Makes the writes to `sock` made during one turn of the event loop leave in a single writev.
 * ssh2 writes every SSH packet on its own; with several fetches and helper requests answered by one
 * read from the server, that was one syscall (and, on loopback, one wake-up of sshd) per packet.
 * Corked at the first write of a turn, uncorked in the check phase of the same turn: nothing waits
 * for a timer, only for the callbacks already running to finish.
 *
 * Installed on the instance after `connect()`, which resets `write` to Socket.prototype.write (so a
 * subclass override would be lost).
 */
export function coalesceWrites(sock: Socket): void {
  const write = sock.write;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    sock.uncork();
  };
  sock.write = function coalescedWrite(this: Socket, ...args: unknown[]): boolean {
    if (!corked) {
      corked = true;
      sock.cork();
      setImmediate(uncork);
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
}
