import { join, resolve } from 'node:path';
import { stateDirFor, type Config } from '@hpcmirror/core';

/** Where failover and failback keep their logs and the T0 manifest: `<forward state_dir>/failover/`. */
export function failoverDirOf(forward: Pick<Config, 'state_dir' | 'flow'>): string {
  return join(resolve(stateDirFor(forward)), 'failover');
}

export function failoverJournalOf(forward: Pick<Config, 'state_dir' | 'flow'>): string {
  return join(failoverDirOf(forward), 'failover.json');
}

export function failbackJournalOf(forward: Pick<Config, 'state_dir' | 'flow'>): string {
  return join(failoverDirOf(forward), 'failback.json');
}

/** The plan a failback follows (one per T0), beside the T0 manifest. */
export function planFileOf(forward: Pick<Config, 'state_dir' | 'flow'>, t0Ns: bigint): string {
  return join(failoverDirOf(forward), `plan-${t0Ns}.tsv`);
}

/** What `failback --plan` last planned, for a look at all of it. */
export function planPreviewOf(forward: Pick<Config, 'state_dir' | 'flow'>): string {
  return join(failoverDirOf(forward), 'plan-preview.tsv');
}
