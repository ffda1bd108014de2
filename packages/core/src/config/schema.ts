import { z } from 'zod';
import { watchSchema } from './watch-schema.js';

/**
 * Every config key hpcmirror reads, declared once: type, default and help (house rule 4).
 * One schema serves every component; each reads its own section plus the shared keys.
 * Durations are seconds or milliseconds as the key name says; sizes are bytes.
 */
const globList = z.array(z.string()).default([]).describe('glob patterns on the absolute source path (docs/path-globs.md)');
/** The agent's patterns also reach the shim as one colon-separated variable (HPCM_ACCEPT/HPCM_REJECT). */
const shimGlobList = z.array(z.string().min(1).refine((g) => !g.includes(':'), 'a pattern for the shim cannot contain ":" (HPCM_ACCEPT/HPCM_REJECT are colon-separated)'))
  .default([]).describe('glob patterns on the absolute source path (docs/path-globs.md); no ":" (the shim gets them colon-separated)');

export const brokerSchema = z.strictObject({
  url: z.string().regex(/^amqps?:\/\//, 'must start with amqp:// or amqps://').describe('broker URL; the password comes from credentials'),
  heartbeat_s: z.number().int().min(0).default(30).describe('AMQP heartbeat'),
  prefetch: z.number().int().min(1).max(65535).default(64).describe('unacked messages per consumer'),
  publish_timeout_ms: z.number().int().min(100).default(60_000).describe('how long a publish may wait for its confirm'),
  reconnect_s: z.number().min(0.1).default(2).describe('delay between reconnection attempts'),
  queue_type: z.enum(['classic', 'quorum']).default('classic').describe('quorum on a RabbitMQ cluster'),
  queue_max_length: z.number().int().min(1).optional()
    .describe('cap (messages) on each subscriber shard queue, for the reverse flow while the primary is down; overflow drops the oldest and makes failback do a full scan'),
  queue_max_bytes: z.number().int().min(1).optional().describe('the same cap in bytes of message bodies'),
  tls: z.strictObject({
    ca: z.string().optional().describe('CA bundle to verify the broker certificate'),
    cert: z.string().optional(),
    key: z.string().optional(),
    servername: z.string().optional(),
  }).optional(),
});

export const sshSchema = z.strictObject({
  host: z.string(),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string(),
  identity_file: z.string().describe('private key file'),
  known_hosts: z.string().describe('known_hosts holding the source host key; always checked'),
  remote_helper: z.string().default('hpcmirror helper').describe('command run on the source for ns-precision metadata'),
  connections: z.number().int().min(1).max(64).default(2),
});

export const agentSchema = z.strictObject({
  spool_dir: z.string().optional().describe('where the shim writes events; never inside a mirrored root'),
  base_url: z.string().describe('where subscribers fetch from, e.g. sftp://opsm@hpc1/'),
  host: z.string().optional().describe('host name written into messages (default: os.hostname())'),
  cluster: z.string().optional().describe('cluster name written as from_cluster (default: host)'),
  spool_shared: z.boolean().default(false).describe('spool on a shared file system: poll every poll_ms instead of inotify; no /proc checks for other hosts'),
  accept: shimGlobList,
  reject: shimGlobList,
  identity: z.enum(['cod', 'sha512', 'md5']).default('cod').describe('cod = checksum on download (the agent never reads files)'),
  inline_max_bytes: z.number().int().min(0).max(32 * 1024).default(0)
    .describe('regular files up to this size travel in the message (v03 `content`) and are written without a fetch; 0 = never'),
  bucket_s: z.number().int().min(1).default(60).describe('spool segment time bucket'),
  spool_max_bytes: z.number().int().min(1 << 20).default(1 << 30).describe('spool size cap; above it the shim records a loss'),
  segment_grace_s: z.number().min(0).default(30).describe('a finished segment is deleted this long after its bucket ends'),
  dirty_quiet_s: z.number().min(0).default(60).describe('announce a file opened for writing and not closed once quiet this long'),
  poll_ms: z.number().int().min(10).default(200).describe('spool polling period on shared file systems'),
  safety_scan_s: z.number().min(0).default(0).describe('periodic scan --since of the last period (0 = off)'),
  destination_ssh: sshSchema.optional()
    .describe('how `scan` compares with a destination not mounted here: the remote helper on the destination host, over ssh'),
});

export const winnowSchema = z.strictObject({
  instances: z.number().int().min(1).max(64).default(1).describe('shards (consistent-hash queues) of the winnow stage'),
  window_ms: z.number().int().min(0).default(1000).describe('coalescing window; 0 disables coalescing'),
  cache_max: z.number().int().min(1).default(1_000_000).describe('paths remembered (LRU)'),
  cache_ttl_s: z.number().min(1).default(3600).describe('how long a path is remembered'),
  large_threshold_bytes: z.number().int().min(0).default(100 * 1024 * 1024).describe('messages at or above go to the large-file exchange'),
  prefetch: z.number().int().min(1).max(65535).default(2000).describe('unacked messages per winnow shard queue; held (coalesced) messages count against it'),
});

const poolSchema = z.strictObject({
  workers: z.number().int().min(1).max(256).describe('concurrent copies'),
  prefetch: z.number().int().min(1).max(65535).optional().describe('unacked messages (default: 2 x workers)'),
});

export const subscriberSchema = z.strictObject({
  transport: z.enum(['sftp', 'rsync', 'local']).default('sftp'),
  ssh: sshSchema.optional().describe('required for sftp and rsync'),
  shards: z.number().int().min(1).max(256).default(4).describe('consistent-hash queues per pool'),
  pools: z.strictObject({
    // Small copies wait on round trips, not on bandwidth: many in flight also batch their packets and
    // syscalls, which cut the subscriber's CPU per file by about a third against 8 (bench/e2e.mjs).
    small: poolSchema.default({ workers: 32 }),
    large: poolSchema.default({ workers: 2 }),
  }).default({ small: { workers: 32 }, large: { workers: 2 } }),
  fsync: z.boolean().default(true).describe('fsync file and directory before the ack'),
  accept: globList,
  reject: globList,
  base_url_allow: z.array(z.string()).default([]).describe('scheme://host prefixes accepted in baseUrl (empty = the configured source only)'),
  bwlimit_bytes_per_s: z.number().int().min(0).default(0),
  retry_levels_s: z.array(z.number().positive()).default([1, 10, 60, 600]),
  max_attempts: z.number().int().min(1).default(20),
  max_body_bytes: z.number().int().min(1024).default(64 * 1024),
  delete_guard_per_min: z.number().int().min(0).default(10_000),
  trash_dir: z.string().optional(),
  trash_retention_s: z.number().min(0).default(7 * 86400),
  anti_entropy: z.boolean().default(true)
    .describe('compare quiet directories with the source and repair what differs; false for reverse subscribers (failback audits instead)'),
  anti_entropy_quiet_s: z.number().min(0).default(30).describe('a touched directory is compared once quiet this long'),
  owner: z.boolean().default(true).describe('set owner/group when running as root'),
  post_after_copy: z.boolean().default(false),
  post_exchange: z.string().optional(),
  latency_log: z.string().optional().describe('compact per-event latency log read by audit'),
});

/**
 * `hpcmirror status --check` thresholds (exit 0 OK, 1 warning, 2 critical) and where `status` and
 * `doctor` look. A threshold of 0 turns that alarm off.
 */
export const statusSchema = z.strictObject({
  lag_warn_s: z.number().min(0).default(300).describe('oldest pending event older than this: warning'),
  lag_crit_s: z.number().min(0).default(600).describe('oldest pending event older than this: critical'),
  parked_warn: z.number().int().min(0).default(1).describe('messages in the parking queues: warning at this many'),
  parked_crit: z.number().int().min(0).default(100).describe('messages in the parking queues: critical at this many'),
  spool_loss_warn: z.number().int().min(0).default(1).describe('shim spool losses (events it could not record) within spool_loss_window_s: warning'),
  spool_loss_crit: z.number().int().min(0).default(0).describe('the same, critical'),
  spool_loss_window_s: z.number().min(1).default(86_400).describe('how far back spool losses count'),
  spool_fill_warn: z.number().min(0).max(1).default(0.5).describe('spool bytes / agent.spool_max_bytes: warning'),
  spool_fill_crit: z.number().min(0).max(1).default(0.9).describe('spool bytes / agent.spool_max_bytes: critical (losses follow at 1)'),
  deletes_paused_warn_s: z.number().min(0).default(1).describe('subscriber delete guard holding removes back this long: warning'),
  deletes_paused_crit_s: z.number().min(0).default(600).describe('the same, critical'),
  stale_s: z.number().min(1).default(30).describe('a running component whose status file is older than this is not reporting: warning'),
  clock_skew_max_s: z.number().min(0).default(2).describe('doctor: largest clock offset to the broker or the ssh source accepted'),
  management_url: z.string().regex(/^https?:\/\//, 'must start with http:// or https://').optional()
    .describe('RabbitMQ management API for queue rates (default: none, queue depths by AMQP passive declares)'),
});

export const configSchema = z.strictObject({
  flow: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').describe('name of the mirror flow'),
  user: z.string().optional().describe('broker/exchange user (default: the login name)'),
  broker: brokerSchema,
  credentials: z.string().optional().describe('file of broker/ssh credentials, mode 0600'),
  exchange: z.string().optional().describe('source exchange (default xs_<user>_<flow>)'),
  reverse_flow: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').optional()
    .describe('the flow going the other way between the same trees; announcements of its writes (hpcm_origin) are dropped, never echoed'),
  source_root: z.string().startsWith('/', 'must be an absolute path'),
  destination_root: z.string().startsWith('/', 'must be an absolute path').optional(),
  state_dir: z.string().optional().describe('checkpoints and indexes (default ~/.local/state/hpcmirror/<flow>)'),
  log: z.strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
    format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    file: z.string().optional(),
  }).default({ level: 'info', format: 'auto' }),
  metrics: z.strictObject({
    enabled: z.boolean().default(false),
    port: z.number().int().min(0).max(65535).default(0),
    host: z.string().default('127.0.0.1'),
  }).default({ enabled: false, port: 0, host: '127.0.0.1' }),
  status: statusSchema.prefault({}),
  agent: agentSchema.optional(),
  winnow: winnowSchema.optional(),
  subscriber: subscriberSchema.optional(),
  watch: watchSchema.optional(),
});

export type Config = z.infer<typeof configSchema>;
export type AgentConfig = z.infer<typeof agentSchema>;
export type WinnowConfig = z.infer<typeof winnowSchema>;
export type SubscriberConfig = z.infer<typeof subscriberSchema>;
export type BrokerConfig = z.infer<typeof brokerSchema>;
export type StatusConfig = z.infer<typeof statusSchema>;
