import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stateDirFor, type Config } from '@hpcmirror/core';
import { componentLabel, isComponent, type Component } from './components.js';

export type ComponentState = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/**
 * `<state_dir>/status/<component>[-<instance>].json`: what a running component says about itself,
 * rewritten atomically every couple of seconds and once more when it stops. `status` reads it.
 */
export interface StatusFileJson {
  version: 1;
  component: Component;
  instance?: string;
  pid: number;
  /** Start time of `pid` (/proc clock ticks), so a later process reusing the pid is not taken for it. */
  pidStartTime: number | null;
  host: string;
  flow: string;
  configFile: string;
  state: ComponentState;
  startedAt: string;
  updatedAt: string;
  stoppedAt?: string;
  error?: { code?: string; message: string };
  /** http://host:port/metrics when metrics.enabled. */
  metricsUrl?: string;
  /** Per second over the last few samples, for every counter of metrics(). */
  rates: Record<string, number>;
  /** Agent only: age of the oldest announced event not yet applied (or otherwise terminal). */
  lag?: { oldestPendingS: number; pending: number };
  /** The service's own metrics() snapshot. */
  metrics: unknown;
}

/** Status files live next to the agent's checkpoints (the same state dir for every component of a flow). */
export function statusDirOf(cfg: Pick<Config, 'state_dir' | 'flow'>): string {
  return join(resolve(stateDirFor(cfg)), 'status');
}

export function statusFileName(component: Component, instance?: string): string {
  return `${componentLabel(component, instance)}.json`;
}

const bigintSafe = (_: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

/** Temp name + rename: a reader sees the old file or the new one, never half of one. */
export async function writeStatusFile(dir: string, status: StatusFileJson): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, statusFileName(status.component, status.instance));
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(status, bigintSafe, 1)}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

function isStatusFile(j: unknown): j is StatusFileJson {
  const s = j as Partial<StatusFileJson> | null;
  return s !== null && typeof s === 'object' && s.version === 1 && typeof s.component === 'string' && isComponent(s.component)
    && typeof s.pid === 'number' && typeof s.state === 'string' && typeof s.updatedAt === 'string';
}

/** Every status file in `dir` (unreadable or foreign files are skipped: a report must not fail on one). */
export async function readStatusFiles(dir: string): Promise<StatusFileJson[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: StatusFileJson[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    try {
      const j: unknown = JSON.parse(await readFile(join(dir, name), 'utf8'));
      if (isStatusFile(j)) out.push(j);
    } catch {
      // Mid-replace on a file system without atomic rename, or not ours.
    }
  }
  return out;
}
