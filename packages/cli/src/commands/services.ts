import type { Command } from 'commander';
import { createAgent, postPaths } from '@hpcmirror/agent';
import { HpcmError, type LoadedConfig, type Logger } from '@hpcmirror/core';
import { createSubscriber, runRemoteHelper } from '@hpcmirror/subscriber';
import { createWinnow } from '@hpcmirror/winnow';
import { loadRoleConfig, loggerFor, type ConfigSource } from '../context.js';
import { ComponentReporting } from '../ops/component-reporting.js';
import type { Component } from '../ops/components.js';

interface Service { start(): Promise<void>; stop(): Promise<void>; metrics?(): unknown }

/** Who is running: the status file and metrics endpoint are written under these names. */
export interface ForegroundIdentity {
  config: LoadedConfig;
  component: Component;
  instance?: string;
  logger: Logger;
}

/**
 * Runs a service in the foreground until SIGINT/SIGTERM, then stops it (stop reverses start,
 * time-boxed inside each service). A second signal exits at once. With `identity`, the process
 * reports itself meanwhile: `<state_dir>/status/<component>.json` every 2 s for `hpcmirror status`,
 * and a Prometheus endpoint when `metrics.enabled`.
 */
export async function runForeground(service: Service, identity?: ForegroundIdentity): Promise<void> {
  const stopRequested = new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  const reporting = identity && new ComponentReporting({
    config: identity.config,
    component: identity.component,
    ...(identity.instance !== undefined && { instance: identity.instance }),
    logger: identity.logger,
    metrics: () => service.metrics?.(),
  });
  await reporting?.start();
  try {
    await service.start();
  } catch (err) {
    await reporting?.stop('failed', err);
    throw err;
  }
  reporting?.setState('running');
  await stopRequested;
  reporting?.setState('stopping');
  try {
    await service.stop();
  } finally {
    await reporting?.stop('stopped');
  }
}

const configOptions = (c: Command): Command => c
  .option('--config <file>', 'config file')
  .option('--sandbox <dir>', 'use the sandbox in DIR');

export function registerServices(program: Command): void {
  configOptions(program.command('agent').description('run the agent in the foreground: spool -> v03 announcements with confirms'))
    .action(async (o: ConfigSource) => {
      const config = loadRoleConfig(o, 'agent');
      const logger = loggerFor(config, 'agent');
      await runForeground(createAgent({ config, logger }), { config, component: 'agent', logger });
    });

  configOptions(program.command('winnow').description('run a winnow instance in the foreground: duplicate suppression and coalescing'))
    .option('--instance <i>', 'consume only shard i (default: all shards)')
    .action(async (o: ConfigSource & { instance?: string }) => {
      const config = loadRoleConfig(o, 'winnow');
      const instance = o.instance === undefined ? undefined : Number(o.instance);
      if (instance !== undefined && (!Number.isInteger(instance) || instance < 0)) throw new HpcmError('HPM_USAGE', `--instance must be a shard number (got ${o.instance})`);
      const logger = loggerFor(config, 'winnow');
      await runForeground(createWinnow({ config, logger, ...(instance !== undefined && { instance }) }),
        { config, component: 'winnow', logger, ...(instance !== undefined && { instance: String(instance) }) });
    });

  configOptions(program.command('subscriber').description('run a subscriber pool in the foreground: converge the destination'))
    .action(async (o: ConfigSource) => {
      const config = loadRoleConfig(o, 'subscriber');
      const logger = loggerFor(config, 'subscriber');
      await runForeground(createSubscriber({ config, logger }), { config, component: 'subscriber', logger });
    });

  program.command('helper')
    .description('source-side metadata helper (line protocol on stdin/stdout; run by subscribers over ssh)')
    .action(async () => {
      await runRemoteHelper(process.stdin, process.stdout);
    });

  configOptions(program.command('post').description('announce paths explicitly (like sr3_cpost)'))
    .argument('<path...>', 'files, directories or links to announce (a missing path is announced as removed)')
    .option('--json', 'print the result as JSON')
    .action(async (paths: string[], o: ConfigSource & { json?: boolean }) => {
      const config = loadRoleConfig(o, 'agent');
      const r = await postPaths(config, paths, { logger: loggerFor(config, 'post') });
      process.stdout.write(o.json ? JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n' : `${JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
    });
}
