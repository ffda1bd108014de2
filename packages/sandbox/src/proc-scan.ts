import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  command: string;
}

/**
 * Live (non-zombie) processes whose command line mentions `text` or whose working directory lies
 * under it. The sandbox starts every process with its working directory in its own folder, so this
 * finds leftovers of a sandbox even when no pid was recorded.
 */
export function processesUsing(text: string): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // A process that is exiting has no cwd link any more.
      }
      if (command.includes(text) || cwd === text || cwd.startsWith(`${text}/`)) found.push({ pid, command });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Pids of live processes in process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return members;
}

/**
 * Waits up to `graceMs` for processes under `dir` whose command matches `pattern` to exit on their
 * own, then SIGKILLs what is left. For helpers a daemon spawned in their own session (Erlang's
 * erl_child_setup and its port programs), which the daemon's process group does not reach.
 */
export async function reapLeftovers(dir: string, pattern: RegExp, graceMs = 5_000): Promise<number[]> {
  const matching = (): ProcessInfo[] => processesUsing(dir).filter((p) => pattern.test(p.command));
  const deadline = Date.now() + graceMs;
  while (matching().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const killed: number[] = [];
  for (const { pid } of matching()) {
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return killed;
}
