import type { Command } from 'commander';
import { createWatcher } from '@hpcmirror/agent';
import { describeError, HpcmError } from '@hpcmirror/core';
import { loadRoleConfig, loggerFor, type ConfigSource } from '../context.js';
import { runForeground } from './services.js';

/**
 * `hpcmirror watch`: the file-system watcher for trees no shimmed program writes. It writes spool
 * records like the shim's; the agent (`hpcmirror agent`, same config) publishes them.
 */
export function registerWatch(program: Command): void {
  program.command('watch')
    .description('watch directories with inotify (or by polling) and announce their changes through the agent\'s spool')
    .option('--config <file>', 'config file (the agent\'s, with a watch: section)')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--once', 'compare the trees with the index, announce what changed, and exit')
    .action(async (o: ConfigSource & { once?: boolean }) => {
      const config = loadRoleConfig(o, 'agent', { credentials: false });
      const logger = loggerFor(config, 'watch');
      let failure: ((err: unknown) => void) | undefined;
      const failed = new Promise<never>((_, reject) => { failure = reject; });
      failed.catch(() => undefined);
      if (o.once) {
        // One comparison needs no inotify; files changed within stable_s are left to the next run.
        const watcher = createWatcher({ config: { ...config, watch: { ...config.watch, mode: 'poll' } }, logger });
        await watcher.start();
        await watcher.stop();
        return;
      }
      const watcher = createWatcher({ config, logger, onFailure: (err) => failure?.(err) });
      // With its identity: a status file (and metrics endpoint) like the other components, for `status`.
      await Promise.race([runForeground(watcher, { config, component: 'watch', logger }), failed.catch(async (err: unknown) => {
        await watcher.stop().catch(() => undefined);
        throw err instanceof HpcmError ? err : new HpcmError('HPM_WATCH_FAILED', describeError(err));
      })]);
    });
}
