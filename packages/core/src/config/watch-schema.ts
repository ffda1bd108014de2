import { z } from 'zod';

/**
 * `watch:` (hpcmirror watch): a file-system watcher announcing changes in trees no shimmed program
 * writes, through the agent's spool. Shared keys (source_root, state_dir, agent.spool_dir,
 * agent.host, agent.accept/reject) come from the rest of the config.
 */
export const watchSchema = z.strictObject({
  dirs: z.array(z.string().startsWith('/', 'must be an absolute path')).default([])
    .describe('directories to watch, each under source_root (default: source_root itself)'),
  mode: z.enum(['inotify', 'poll']).default('inotify')
    .describe('inotify on local file systems; poll = a rescan every poll_s against the index (NFS, Lustre, GPFS: inotify sees only this node\'s changes)'),
  stable_s: z.number().min(0).default(1)
    .describe('announce a file with no close-write once its size and mtime have been stable this long and no process has it open for writing'),
  poll_s: z.number().min(1).default(60).describe('poll mode: seconds between rescans'),
  open_quiet_s: z.number().min(0).default(60)
    .describe('a file still open for writing is announced anyway once unchanged this long (never-closed logs)'),
  compact_after: z.number().int().min(1000).default(100_000)
    .describe('index journal entries after which a rescan rewrites the index (bounds the memory the journal takes)'),
});

export type WatchConfig = z.infer<typeof watchSchema>;
