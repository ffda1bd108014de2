// CPU time of the sandbox's processes and of everything they started (the sshd session processes, the
// remote helper, erl_child_setup...), read from /proc, so a run can say what each part cost per file.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** pid -> { ppid, comm, self, children } in ms (self: utime+stime; children: cutime+cstime of reaped children). */
function readAll() {
  const out = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' '); // f[0] = state (field 3)
    let cmd = comm;
    try { cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(0, 4).join(' ') || comm; } catch { /* gone */ }
    out.set(Number(name), {
      ppid: Number(f[1]), comm, cmd,
      self: (Number(f[11]) + Number(f[12])) * TICK_MS,
      children: (Number(f[13]) + Number(f[14])) * TICK_MS,
    });
  }
  return out;
}

/** The roots ({ name: pid }) and their live descendants: pid -> { root, isRoot, ...entry }. */
export function cpuSnapshot(roots) {
  const all = readAll();
  const rootOf = new Map();
  const found = new Map();
  for (const [name, pid] of Object.entries(roots)) rootOf.set(pid, name);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, e] of all) {
      if (rootOf.has(pid)) continue;
      const parentRoot = rootOf.get(e.ppid);
      if (parentRoot !== undefined) { rootOf.set(pid, parentRoot); grew = true; }
    }
  }
  const rootPids = new Set(Object.values(roots));
  for (const [pid, root] of rootOf) if (all.has(pid)) found.set(pid, { root, isRoot: rootPids.has(pid), ...all.get(pid) });
  return found;
}

/**
 * Per process kind (root name, then `root/child command` for descendants) the CPU ms spent between two
 * snapshots: a process new since `before` counts from zero; reaped children count through their
 * parent's cutime+cstime. A descendant that exited unreaped in between is missed.
 */
export function cpuDelta(before, after) {
  const rows = new Map();
  const add = (key, ms) => rows.set(key, (rows.get(key) ?? 0) + ms);
  for (const [pid, a] of after) {
    const b = before.get(pid);
    const same = b !== undefined && b.comm === a.comm;
    const key = a.isRoot ? a.root : `${a.root}/${kindOf(a)}`;
    add(key, a.self - (same ? b.self : 0) + a.children - (same ? b.children : 0));
  }
  return rows;
}

function kindOf(e) {
  if (/\bhelper\b/.test(e.cmd) && /node/.test(e.comm)) return 'remote helper (node)';
  return e.comm;
}

/** CPU ms of this process's reaped children (e.g. a writer that has returned). */
export function reapedChildrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
}
