import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  agentStatePaths, describeScanProgress, parseSinceTime, postPaths, runScan, toAnnounceFact, type AnnounceFact, type DestinationTree,
} from '@hpcmirror/agent';
import { HpcmError, percentEncodeBytes } from '@hpcmirror/core';
import { loadRoleConfig, loggerFor, type ConfigSource } from '../context.js';
import { openRemoteDestination, type RemoteDestination } from '../scan-destination.js';

interface ScanOptions extends ConfigSource { since?: string; dryRun?: boolean; json?: boolean; threads?: string; restart?: boolean; remoteCompare?: boolean }

const BATCH = 1000;

export function registerScan(program: Command): void {
  program.command('scan')
    .description('walk DIR and announce what differs from the destination, or what changed since TIME (by ctime)')
    .argument('[dir]', 'directory under source_root (default: source_root)')
    .option('--config <file>', 'agent config')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--since <time>', 'announce what changed since TIME: ISO date, YYYYMMDDTHHMMSS, @epoch or an age (2h)')
    .option('--dry-run', 'print what would be announced; announce nothing')
    .option('--threads <n>', 'walker threads (default: CPUs)')
    .option('--remote-compare', 'compare through the remote helper on the destination host (agent.destination_ssh) even where destination_root is mounted here')
    .option('--restart', 'ignore the checkpoint of an interrupted scan of DIR and start over')
    .option('--json', 'print the summary as JSON')
    .action(async (dirArg: string | undefined, o: ScanOptions) => {
      const cfg = loadRoleConfig(o, 'agent', { credentials: !o.dryRun });
      const root = resolve(cfg.source_root);
      const dir = resolve(dirArg ?? root);
      if (dir !== root && !dir.startsWith(`${root}/`)) throw new HpcmError('HPM_PATH_OUTSIDE_ROOT', `${dir}: not under source_root ${root}`);
      const since = o.since === undefined ? undefined : parseSinceTime(o.since);
      const logger = loggerFor(cfg, 'scan');
      let compareWith: string | DestinationTree | undefined;
      let remote: RemoteDestination | undefined;
      if (since === undefined) {
        if (!cfg.destination_root) {
          throw new HpcmError('HPM_USAGE', `${cfg.configFile}: comparing with the destination needs destination_root (mounted here, or reached with agent.destination_ssh); or use --since TIME`);
        }
        const dstDir = join(resolve(cfg.destination_root), dir.slice(root.length));
        if (o.remoteCompare && !cfg.agent?.destination_ssh) throw new HpcmError('HPM_USAGE', `${cfg.configFile}: --remote-compare needs agent.destination_ssh`);
        if (existsSync(dstDir) && !o.remoteCompare) compareWith = dstDir;
        else if ((remote = await openRemoteDestination(cfg, logger))) compareWith = { root: dstDir, lister: remote.lister };
      }
      const stateDir = agentStatePaths(cfg).dir;
      const key = createHash('sha256').update(`${dir}\0${since ?? 'compare'}`).digest('hex').slice(0, 16);
      const checkpointFile = join(stateDir, `scan-${key}.ckpt`);
      const tty = process.stderr.isTTY === true;
      let announced = 0;
      let batch: AnnounceFact[] = [];
      const flush = async (): Promise<void> => {
        if (!batch.length) return;
        const paths = batch.map((f) => f.path);
        batch = [];
        if (o.dryRun) return;
        const r = await postPaths(cfg, paths, { logger });
        announced += r.posted.length;
      };
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      let result;
      try {
        result = await runScan({
          root: dir,
          ...(since !== undefined && { since }),
          ...(compareWith && { compareWith }),
          ...(o.threads && { threads: Number(o.threads) }),
          checkpointFile: o.restart ? join(stateDir, `scan-${key}-${Date.now()}.ckpt`) : checkpointFile,
          excludes: [...(cfg.agent?.reject ?? []), '.hpcm.*'],
          onEntry: async (entry) => {
            const fact = toAnnounceFact(entry, dir);
            if (!fact) return;
            if (o.dryRun) {
              announced++;
              if (!o.json) process.stdout.write(`${fact.kind.padEnd(8)} ${percentEncodeBytes(fact.path)}  (${fact.reason})\n`);
              return;
            }
            batch.push(fact);
            if (batch.length >= BATCH) await flush();
          },
          onProgress: (p) => {
            const line = describeScanProgress(p, announced);
            process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
          },
        });
        await flush();
      } finally {
        // The ssh connection would keep the process alive.
        await remote?.close();
      }
      if (tty) process.stderr.write('\n');
      const summary = { dir, mode: since !== undefined ? 'since' : remote ? 'compare-remote' : compareWith ? 'compare' : 'everything', examined: result.examinedTotal, found: result.emitted, announced, dryRun: o.dryRun ?? false, filesPerSecond: Math.round(result.filesPerSecond), errors: result.errors };
      process.stdout.write(o.json ? JSON.stringify(summary, null, 2) + '\n'
        : `scan: ${summary.examined} examined (${summary.filesPerSecond} files/s), ${summary.found} ${since !== undefined ? 'changed since then' : 'differ from the destination'}, ${o.dryRun ? 'none announced (dry run)' : `${announced} announced`}${result.errors ? `, ${result.errors} unreadable` : ''}\n`);
      process.exitCode = result.errors ? 1 : 0;
    });
}
