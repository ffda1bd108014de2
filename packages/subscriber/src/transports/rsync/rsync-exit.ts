import { TransportError } from '../errors.js';
import { classifySshFailure } from './ssh-command.js';

/** What an rsync exit status means for the items it did not deliver (see rsync(1), EXIT VALUES). */
export function rsyncExitError(code: number | null, stderrTail: string, label: string, aborted: boolean): TransportError {
  const tail = stderrTail.trim().split('\n').slice(-2).join(' | ');
  const message = `${label}: rsync exited with ${code ?? 'a signal'}${tail ? `: ${tail}` : ''}`;
  if (aborted) return new TransportError('HPM_TRANSPORT_ABORTED', `${label}: fetch aborted`);
  switch (code) {
    case 255:
      return classifySshFailure(stderrTail, label) ?? new TransportError('HPM_TRANSPORT_CONNECTION', message);
    case 5: // error starting client-server protocol
    case 10: // socket I/O
    case 12: // protocol data stream
    case 14: // IPC
    case 20: // killed by a signal
    case 21: // waitpid
    case null:
      return new TransportError('HPM_TRANSPORT_CONNECTION', message);
    case 30: // I/O timeout
    case 35: // daemon connection timeout
      return new TransportError('HPM_TRANSPORT_TIMEOUT', message);
    case 11: // file I/O (our side: disk full...)
      return new TransportError('HPM_TRANSPORT_DEST_IO', message);
    case 1: // syntax or usage
    case 2: // protocol incompatibility
    case 4: // unsupported action
      return new TransportError('HPM_TRANSPORT_RSYNC', message, { retryable: false });
    default:
      return new TransportError('HPM_TRANSPORT_RSYNC', message);
  }
}
