import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Config } from './schema.js';

const expandHome = (p: string): string => (p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p);

/** Where the shim spools events and the agent reads them (semantics.md "The spool"). */
export function spoolDirFor(cfg: Pick<Config, 'agent'>): string {
  if (cfg.agent?.spool_dir) return expandHome(cfg.agent.spool_dir);
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, 'hpcmirror') : `/var/tmp/hpcmirror-${userInfo().uid}`;
}

/** Checkpoints, indexes and progress files of one flow on this node. */
export function stateDirFor(cfg: Pick<Config, 'state_dir' | 'flow'>): string {
  return cfg.state_dir ? expandHome(cfg.state_dir) : join(homedir(), '.local', 'state', 'hpcmirror', cfg.flow);
}
