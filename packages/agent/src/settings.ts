import { hostname, homedir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { agentSchema, DEFAULT_MAX_BODY_BYTES, HpcmError, type AgentConfig, type LoadedConfig } from '@hpcmirror/core';
import { WINNOW_HEADROOM_BYTES } from './publish/bounded-announcement.js';

/** What the agent needs from a loaded config: the shared keys plus its own section. */
export type AgentInputConfig = Pick<LoadedConfig, 'flow' | 'user' | 'exchange' | 'source_root' | 'state_dir' | 'broker' | 'winnow' | 'subscriber'> & {
  agent?: Partial<AgentConfig> & Pick<AgentConfig, 'base_url'>;
};

/** Everything the agent derives from its config once, at create time. */
export interface AgentSettings {
  readonly flow: string;
  readonly user: string;
  readonly exchange: string;
  readonly sourceRoot: Buffer;
  readonly stateDir: string;
  readonly spoolDir: string;
  /** Host name written into messages (`hpcm_host`) and used for progress. */
  readonly host: string;
  /** `from_cluster`. */
  readonly cluster: string;
  /** The host's name as the shim writes it into segment names. */
  readonly spoolHost: string;
  readonly agent: AgentConfig;
  /** Largest body the agent sends: the subscriber's max_body_bytes less room for the winnow's additions. */
  readonly maxBodyBytes: number;
}

/** `[A-Za-z0-9._-]`, other bytes as `_` (SPOOL.md "Directory and segments"). */
export function spoolHostName(host: string): string {
  return Buffer.from(host, 'utf8').toString('latin1').replace(/[^A-Za-z0-9._-]/g, '_');
}

/** SPOOL.md default: `$HPCM_SPOOL_DIR`, else `$XDG_RUNTIME_DIR/hpcmirror`, else `/var/tmp/hpcmirror-$UID`. */
export function defaultSpoolDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HPCM_SPOOL_DIR) return env.HPCM_SPOOL_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'hpcmirror');
  return `/var/tmp/hpcmirror-${userInfo().uid}`;
}

export function agentSection(config: AgentInputConfig): AgentConfig {
  if (!config.agent) {
    throw new HpcmError('HPM_CONFIG_INVALID', 'agent: section missing (at least agent.base_url is needed)', { field: 'agent' });
  }
  // Parse again so that callers may pass a partial section (tests, `post`) and get the defaults.
  const parsed = agentSchema.safeParse(config.agent);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = ['agent', ...issue.path].join('.');
    throw new HpcmError('HPM_CONFIG_INVALID', `${field}: ${issue.message}`, { field });
  }
  return parsed.data;
}

export function resolveAgentSettings(config: AgentInputConfig, env: NodeJS.ProcessEnv = process.env): AgentSettings {
  const agent = agentSection(config);
  const host = agent.host ?? hostname();
  const root = resolve(config.source_root);
  return {
    flow: config.flow,
    user: config.user,
    exchange: config.exchange,
    sourceRoot: Buffer.from(root),
    stateDir: agentStatePaths(config).dir,
    spoolDir: resolve(agent.spool_dir ?? defaultSpoolDir(env)),
    host,
    cluster: agent.cluster ?? host,
    spoolHost: spoolHostName(host),
    agent,
    maxBodyBytes: (config.subscriber?.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES) - WINNOW_HEADROOM_BYTES,
  };
}

export interface AgentStatePaths {
  /** config.state_dir, or ~/.local/state/hpcmirror/<flow>. */
  dir: string;
  /** Checkpoints, seq counters, dirty set, counters: read by `wait` and `status`. */
  agentState: string;
  /** docs/progress.md: `{host, assigned, watermark, parked, updatedNs}`. */
  progress: string;
  /** Outbox journal files (`outbox.<n>.jsonl`): messages written before they are published. */
  outboxDir: string;
}

/** Where the agent keeps its state; `wait` and `status` call this to find it. */
export function agentStatePaths(config: Pick<LoadedConfig, 'flow' | 'state_dir'>): AgentStatePaths {
  const dir = resolve(config.state_dir ?? join(homedir(), '.local', 'state', 'hpcmirror', config.flow));
  return {
    dir,
    agentState: join(dir, 'agent-state.json'),
    progress: join(dir, 'progress.json'),
    outboxDir: join(dir, 'outbox'),
  };
}
