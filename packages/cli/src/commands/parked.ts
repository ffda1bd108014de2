import type { Command } from 'commander';
import { agentStatePaths, readProgressFile } from '@hpcmirror/agent';
import { createLogger, HpcmError, type LoadedConfig } from '@hpcmirror/core';
import { expandHome, loadRoleConfig, type ConfigSource } from '../context.js';
import { dropParked, listParked, retryParked, type ParkedMessage, type ParkedSelection } from '../ops/parked-queues.js';

interface ParkedOptions extends ConfigSource { all?: boolean; path?: string; json?: boolean; settleTimeout?: string }

const ADDITION = 'An addition to the fixed surface of cli.md.';

function selectionOf(o: ParkedOptions, required: boolean): ParkedSelection {
  if (o.all && o.path !== undefined) throw new HpcmError('HPM_USAGE', 'give either --all or --path GLOB, not both');
  if (required && !o.all && o.path === undefined) throw new HpcmError('HPM_USAGE', 'say which parked messages: --all, or --path GLOB');
  return { ...(o.all && { all: true }), ...(o.path !== undefined && { pathGlob: o.path }) };
}

function line(p: ParkedMessage): string {
  const seqs = p.seqs.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
  return `${p.stage.padEnd(9)} ${(p.parkedAt ?? '-').padEnd(24)} ${String(p.attempts).padStart(3)}  ${p.path ?? '(unreadable body)'}${p.host ? `  [${p.host} seq ${seqs}]` : ''}\n    ${p.reason}\n`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Where the agent runs on this machine, waits (briefly) until its progress file has taken in the
 * reports just sent, so a `wait` started next sees the retried seqs as pending, not as parked.
 */
async function settle(cfg: LoadedConfig, msgs: readonly ParkedMessage[], timeoutMs: number): Promise<boolean> {
  const seqs = new Set(msgs.flatMap((p) => p.seqs.flatMap(([lo, hi]) => Array.from({ length: Math.min(hi - lo + 1, 10_000) }, (_, i) => lo + i))));
  if (seqs.size === 0) return true;
  const file = agentStatePaths(cfg).progress;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = await readProgressFile(file).catch(() => undefined);
    if (!j) return false;
    if (!(j.parked ?? []).some((p) => seqs.has(p.seq))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

function register(parent: Command, name: string, description: string, required: boolean) {
  return parent.command(name)
    .description(description)
    .option('--config <file>', 'config file (any component of the flow)')
    .option('--sandbox <dir>', 'use the sandbox in DIR')
    .option('--all', `every parked message${required ? '' : ' (the default)'}`)
    .option('--path <glob>', 'only messages whose source path matches GLOB (accept/reject rules: no `/` matches the last component, else the whole absolute path)')
    .option('--json', 'print the outcome as JSON');
}

export function registerParked(program: Command): void {
  const parked = program.command('parked')
    .description(`list parked messages, or send them back to the flow or drop them once the cause is fixed. ${ADDITION}`)
    .addHelpText('after', `\n${ADDITION} Parked events make \`hpcmirror wait\` exit 1 until they are retried and applied, or dropped.`);

  register(parked, 'list', 'show each parked message: stage, when parked, attempts, path, reason', false)
    .action(async (o: ParkedOptions) => {
      const sel = selectionOf(o, false);
      const msgs = await listParked(loadRoleConfig(o, 'subscriber'), sel);
      if (o.json) process.stdout.write(JSON.stringify({ parked: msgs }, null, 2) + '\n');
      else if (msgs.length === 0) process.stdout.write('no parked messages\n');
      else {
        process.stdout.write(`${'STAGE'.padEnd(9)} ${'PARKED AT'.padEnd(24)} TRIES PATH / REASON\n`);
        for (const p of msgs) process.stdout.write(line(p));
      }
    });

  register(parked, 'retry', 'send parked messages back to their stage with a fresh attempt count (after fixing the cause)', true)
    .option('--settle-timeout <s>', 'wait up to S s for the local agent to note the retry (0: do not wait)', '10')
    .action(async (o: ParkedOptions) => {
      const sel = selectionOf(o, true);
      const cfg = loadRoleConfig(o, 'subscriber');
      const msgs = await retryParked(cfg, sel);
      const settled = await settle(cfg, msgs, Number(o.settleTimeout ?? 10) * 1000);
      if (o.json) process.stdout.write(JSON.stringify({ retried: msgs, agentNoted: settled }, null, 2) + '\n');
      else {
        for (const p of msgs) process.stdout.write(`retried: ${p.path ?? '(unreadable body)'} (${p.stage}; was: ${p.reason})\n`);
        process.stdout.write(`${msgs.length} parked message${msgs.length === 1 ? '' : 's'} sent back to the flow\n`);
      }
    });

  register(parked, 'drop', 'discard parked messages; their events count as done (state `dropped`), one log line per path', true)
    .action(async (o: ParkedOptions) => {
      const sel = selectionOf(o, true);
      const cfg = loadRoleConfig(o, 'subscriber');
      // The log line per dropped path goes to the configured log, or stderr (stdout is the result).
      const log = createLogger('parked', { level: cfg.log.level, ...(cfg.log.file ? { file: expandHome(cfg.log.file) } : { stderr: true }) });
      const msgs = await dropParked(cfg, sel, log);
      const settled = await settle(cfg, msgs, 10_000);
      if (o.json) process.stdout.write(JSON.stringify({ dropped: msgs, agentNoted: settled }, null, 2) + '\n');
      else {
        for (const p of msgs) process.stdout.write(`dropped: ${p.path ?? '(unreadable body)'} (${p.stage}; was: ${p.reason})\n`);
        process.stdout.write(`${msgs.length} parked message${msgs.length === 1 ? '' : 's'} dropped\n`);
      }
    });
}
