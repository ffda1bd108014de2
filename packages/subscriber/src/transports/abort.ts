import { TransportError, showPath } from './errors.js';

export function throwIfAborted(signal: AbortSignal | undefined, path: Buffer): void {
  if (signal?.aborted) {
    throw new TransportError('HPM_TRANSPORT_ABORTED', `fetch ${showPath(path)}: aborted`, { cause: signal.reason, path });
  }
}
