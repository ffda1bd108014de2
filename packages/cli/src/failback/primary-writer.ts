/**
 * The few writes failback makes on the primary itself (everything else flows through the reverse
 * subscribers): a probe that it is writable, conflict copies, and the deletes the plan proposed.
 * One implementation per way of reaching the primary (primary-writers/), chosen by the forward
 * config's transport: `local` writes a primary mounted here; `sftp` and `rsync` write over SFTP with
 * the forward subscribers' ssh credentials (the primary is another cluster).
 */
import { isTransportError, openSftpSessionFor } from '@hpcmirror/subscriber';
import { HpcmError, type LoadedConfig } from '@hpcmirror/core';
import type { StepLog } from './step-journal.js';
import { localPrimaryWriter } from './primary-writers/local-primary-writer.js';
import { sftpPrimaryWriter } from './primary-writers/sftp-primary-writer.js';

/** What the T0 manifest recorded of a path failback is about to delete. */
export interface PlannedRemoval {
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mtimeNs: bigint;
}

/** removed; gone already; changed since the plan (kept); a directory not empty (kept). */
export type RemoveOutcome = 'removed' | 'gone' | 'changed' | 'not-empty';

export interface PrimaryWriter {
  readonly kind: 'local' | 'sftp';
  /** Throws HPM_FAILBACK_PRIMARY_DOWN unless the root is a directory we can create and remove a file in. */
  probeWritable(): Promise<void>;
  /** Keeps the primary's version of `rel` as `<rel>.hpcm-conflict-<stamp>` (a hard link, or a copy); idempotent. */
  keepConflict(rel: Buffer, stamp: string): Promise<Buffer>;
  /**
   * Removes a file/symlink, or an empty directory, only if its lstat just before still matches what
   * the manifest recorded (same type; for a non-directory the same size and mtime).
   */
  remove(rel: Buffer, planned: PlannedRemoval): Promise<RemoveOutcome>;
  close(): Promise<void>;
}

export function conflictName(rel: Buffer, stamp: string): Buffer {
  return Buffer.concat([rel, Buffer.from(`.hpcm-conflict-${stamp}`)]);
}

/** How failback writes to the primary of this forward config. */
export async function primaryWriterFor(forward: LoadedConfig, log: StepLog, options: { withoutExtensions?: string[] } = {}): Promise<PrimaryWriter> {
  const root = forward.source_root.replace(/\/+$/, '');
  const sub = forward.subscriber;
  if (sub?.transport === 'local') return localPrimaryWriter(root);
  if (!sub?.ssh) throw new HpcmError('HPM_USAGE', `${forward.configFile}: failback writes on the primary over ssh and needs subscriber.ssh (the primary's host and credentials)`);
  try {
    return sftpPrimaryWriter(await openSftpSessionFor(sub.ssh, options), root, log);
  } catch (err) {
    // A refused host key or key is a configuration matter, not an outage: those keep their own codes.
    if (!isTransportError(err) || !err.retryable) throw err;
    throw new HpcmError('HPM_FAILBACK_PRIMARY_DOWN', `cannot open an SFTP session to the primary (${err.message})`, { cause: err });
  }
}
