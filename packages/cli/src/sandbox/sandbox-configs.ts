import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { SandboxState } from '@hpcmirror/sandbox';

/** The CLI entry of this checkout, for services and the remote helper run over ssh. */
export function cliEntry(): string {
  return fileURLToPath(new URL('../bin.js', import.meta.url));
}

export interface SandboxConfigFiles {
  forward: string;
  /** The reverse flow (dst -> src), started only by `failover` and `failback`. */
  reverse: string;
}

/** The sandbox's reverse flow: its name, and the cap on its queue while the "primary" is down. */
export const SANDBOX_REVERSE_FLOW = 'sandbox-reverse';
const SANDBOX_REVERSE_QUEUE_MAX = 100_000;

function baseUrl(state: SandboxState): string {
  const { user, port } = state.ssh;
  if (state.transport === 'local') return 'file:/';
  return `${state.transport === 'rsync' ? 'rsync+ssh' : 'sftp'}://${user}@127.0.0.1:${port}/`;
}

/**
 * One config serves every component of the sandbox's forward flow (src -> dst), as a user would
 * write for a single-node mirror; quiet times are short so that the demo and the tests converge fast.
 */
export function forwardConfig(state: SandboxState): Record<string, unknown> {
  const dir = state.dir;
  return {
    flow: 'sandbox',
    reverse_flow: SANDBOX_REVERSE_FLOW,
    broker: { url: state.brokerUrl, heartbeat_s: 10, reconnect_s: 1, prefetch: 64 },
    exchange: state.exchange,
    source_root: state.src,
    destination_root: state.dst,
    state_dir: join(dir, 'state', 'forward'),
    log: { level: process.env.HPCM_LOG_LEVEL ?? 'info', format: 'json' },
    agent: {
      base_url: baseUrl(state),
      spool_dir: join(dir, 'spool'),
      reject: ['*.tmp'],
      dirty_quiet_s: 5,
      segment_grace_s: 5,
      // On as in configs/hpc1-agent.yaml (the product default is 0, messages.md); the variable lets
      // bench/e2e.mjs compare with and without.
      inline_max_bytes: Number(process.env.HPCM_SANDBOX_INLINE_MAX_BYTES ?? 4096),
    },
    winnow: { instances: 1, window_ms: 1000 },
    subscriber: {
      transport: state.transport,
      // What the agent rejects, as configs/hpc2-subscriber.yaml: a listing (anti-entropy, the subtree
      // compare of a directory rename) would otherwise copy a *.tmp being written, and nothing
      // announces its rename into place or its removal.
      reject: ['*.tmp'],
      ...(state.transport !== 'local' && {
        ssh: {
          host: '127.0.0.1',
          port: state.ssh.port,
          user: state.ssh.user,
          identity_file: state.ssh.identityFile,
          known_hosts: state.ssh.knownHostsFile,
          remote_helper: `HPCM_SHIM=0 ${process.execPath} ${cliEntry()} helper`,
        },
      }),
      shards: 4,
      pools: { small: { workers: 32 }, large: { workers: 2 } },
      anti_entropy_quiet_s: 5,
      latency_log: join(dir, 'state', 'forward', 'latency.log'),
    },
  };
}

/**
 * The same components configured the other way (dst -> src), as configs/hpc2-reverse-agent.yaml and
 * hpc1-reverse-subscriber.yaml are on two clusters: its own exchange, spool and state, and a capped
 * queue. Fenced off: `sandbox up` does not start it; `failover` and `failback` do.
 */
export function reverseConfig(state: SandboxState): Record<string, unknown> {
  const fwd = forwardConfig(state) as { broker: Record<string, unknown>; agent: Record<string, unknown>; subscriber: Record<string, unknown> };
  const dir = state.dir;
  const cap = Number(process.env.HPCM_SANDBOX_REVERSE_QUEUE_MAX ?? SANDBOX_REVERSE_QUEUE_MAX);
  return {
    ...fwd,
    flow: SANDBOX_REVERSE_FLOW,
    reverse_flow: 'sandbox',
    broker: { ...fwd.broker, queue_max_length: cap },
    exchange: `${state.exchange}.reverse`,
    source_root: state.dst,
    destination_root: state.src,
    state_dir: join(dir, 'state', 'reverse'),
    agent: { ...fwd.agent, spool_dir: join(dir, 'spool-reverse'), reject: ['*.tmp', '*.hpcm-conflict-*'] },
    // No anti-entropy in reverse: it would make every directory the reverse subscribers touch equal
    // to the secondary, overwriting what changed on the primary during the outage (the primary's
    // newer version, which failback hands to the forward flow). Failback audits instead.
    subscriber: { ...fwd.subscriber, anti_entropy: false, latency_log: join(dir, 'state', 'reverse', 'latency.log') },
  };
}

export function writeSandboxConfigs(state: SandboxState): SandboxConfigFiles {
  const configs = join(state.dir, 'configs');
  mkdirSync(configs, { recursive: true });
  mkdirSync(join(state.dir, 'spool'), { recursive: true, mode: 0o700 });
  const forward = join(configs, 'forward.yaml');
  writeFileSync(forward, `# written by \`hpcmirror sandbox up\`; rewritten at every up\n${stringify(forwardConfig(state))}`);
  mkdirSync(join(state.dir, 'spool-reverse'), { recursive: true, mode: 0o700 });
  const reverse = join(configs, 'reverse.yaml');
  writeFileSync(reverse, `# written by \`hpcmirror sandbox up\`: the reverse flow, started by failover/failback\n${stringify(reverseConfig(state))}`);
  return { forward, reverse };
}
