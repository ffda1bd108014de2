import { createLogger, loadConfig, type Logger } from '@hpcmirror/core';
import { createWinnow, type WinnowService } from './winnow-service.js';

export interface RunWinnowOptions {
  /** `--instance i`: consume shard i only; default all shards. */
  instance?: number;
  logger?: Logger;
  /** Stops the winnow when aborted; default SIGINT/SIGTERM. */
  signal?: AbortSignal;
  /** Called once the winnow is running (for the CLI to print or report readiness). */
  onStarted?: (service: WinnowService) => void;
}

/**
 * `hpcmirror winnow --config F [--instance i]`: loads and checks the config, runs the winnow
 * until SIGINT/SIGTERM (or `signal`), then stops it cleanly. Throws HpcmError (config, usage,
 * broker) with its code and exit status for the CLI to print.
 */
export async function runWinnow(configFile: string, options: RunWinnowOptions = {}): Promise<void> {
  const config = loadConfig(configFile);
  const logger = options.logger ?? createLogger('winnow', config.log);
  const service = createWinnow({ config, logger, ...(options.instance !== undefined && { instance: options.instance }) });
  let release = (): void => undefined;
  const stopRequested = new Promise<void>((resolve) => {
    if (options.signal) {
      const signal = options.signal;
      if (signal.aborted) return resolve();
      const onAbort = (): void => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
      release = () => signal.removeEventListener('abort', onAbort);
      return;
    }
    const onSignal = (): void => resolve();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    release = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  });
  try {
    await service.start();
    options.onStarted?.(service);
    await stopRequested;
  } finally {
    release();
    await service.stop();
  }
}
