import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type PidLiveness = (host: string, pid: number) => boolean | undefined;

/**
 * Whether a writer still runs: only knowable for pids of this host (/proc). A zombie counts as
 * gone (it will never write again). Pids of other hosts (shared spool) are unknown: the quiet rule
 * covers them.
 */
export function procPidLiveness(localSpoolHost: string, procDir = '/proc'): PidLiveness {
  return (host, pid) => {
    if (host !== localSpoolHost) return undefined;
    let stat: string;
    try {
      stat = readFileSync(join(procDir, String(pid), 'stat'), 'latin1');
    } catch {
      return false;
    }
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  };
}
