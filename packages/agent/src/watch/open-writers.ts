import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Which of these paths some process on this node has open for writing (O_WRONLY or O_RDWR), from
 * /proc/<pid>/fd and fdinfo. Only processes this user may inspect are seen (all of them as root);
 * writers on other nodes of a shared file system never are. Costs one readlink per open fd of
 * every process, so it runs only for files that went quiet without a close-write.
 */
export function openForWriting(paths: ReadonlySet<string>, proc = '/proc'): Set<string> {
  const found = new Set<string>();
  if (!paths.size) return found;
  let pids: string[];
  try {
    pids = readdirSync(proc);
  } catch {
    return found;
  }
  for (const pid of pids) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(Buffer.from(`${proc}/${pid}/fd/${fd}`), { encoding: 'buffer' }).toString('latin1');
      } catch {
        continue;
      }
      if (!paths.has(target) || found.has(target)) continue;
      try {
        const m = /flags:\s*([0-7]+)/.exec(readFileSync(`${proc}/${pid}/fdinfo/${fd}`, 'latin1'));
        if (m && (parseInt(m[1]!, 8) & 3) !== 0) found.add(target);
      } catch { /* closed meanwhile */ }
    }
  }
  return found;
}
