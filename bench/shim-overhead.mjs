#!/usr/bin/env node
/**
 * Overhead of the LD_PRELOAD shim: each case runs without and with the shim, interleaved (the order
 * alternates per round), RUNS rounds; prints the median wall time of each side and the median of the
 * per-round ratios shim/no-shim against the target (wall time), plus the median CPU-time ratio
 * (user + sys of the process tree), which is steadier on a busy machine.
 *
 *   node bench/shim-overhead.mjs [runs=5] [cases=a,b,c]
 *
 * Work trees live in a local temp dir; the spool on tmpfs (/dev/shm) when available.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Math.max(1, Number(process.argv[2] ?? 5));
const ONLY = (process.argv[3] ?? 'a,b,c').split(',');
const repo = fileURLToPath(new URL('..', import.meta.url));
const shimDir = join(repo, 'native-shim');
execFileSync('make', ['-s', '-C', shimDir], { stdio: 'inherit' });

const base = mkdtempSync(join(tmpdir(), 'hpcm-bench-shim-'));
const spoolParent = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/hpcm-bench-spool-') : base;
const spool = join(spoolParent, 'spool');
mkdirSync(spool, { mode: 0o700 });
const root = join(base, 'root');
const cleanup = () => {
  rmSync(base, { recursive: true, force: true });
  if (spoolParent !== base) rmSync(spoolParent, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { cleanup(); process.exit(130); });

const WRITER_C = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  char name[64], buf[512];
  for (int i = 0; i < (int)sizeof buf; i++) buf[i] = (char)('a' + i % 26);
  for (int i = 0; i < n; i++) {
    if (i % 500 == 0) { snprintf(name, sizeof name, "d%d", i / 500); mkdir(name, 0755); }
    snprintf(name, sizeof name, "d%d/f%d.dat", i / 500, i);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, buf, 100 + i % 400) < 0 || close(fd) != 0) return 1;
  }
  return 0;
}`;
writeFileSync(join(base, 'writer.c'), WRITER_C);
execFileSync('gcc', ['-O2', '-o', join(base, 'writer'), join(base, 'writer.c')]);

// the tarball: 5,000 small files in 50 directories, built once without the shim
const tarSrc = join(base, 'tarsrc');
for (let d = 0; d < 50; d++) {
  mkdirSync(join(tarSrc, 'tree', `d${d}`), { recursive: true });
  for (let f = 0; f < 100; f++) writeFileSync(join(tarSrc, 'tree', `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(1 + (f % 20)));
}
execFileSync('tar', ['-C', tarSrc, '-cf', join(base, 'tree.tar'), 'tree']);

const BASH_SCRIPT = `
for ((i = 0; i < 2000; i++)); do
  echo "line $i" > "f$i"
  printf 'more %s\\n' "$i" >> "f$i"
  mv "f$i" "g$i"
  ln -s "g$i" "s$i"
  if (( i % 2 )); then rm "s$i" "g$i"; else rm "s$i"; fi
  if (( i % 50 == 0 )); then mkdir "dir$i"; cp "g$i" "dir$i/c" 2>/dev/null || true; true; fi
done
`;

const cases = [
  { name: '(a) bash: 2,000 create/rename/symlink/remove + external commands', target: 1.25, cmd: 'bash', args: ['-c', BASH_SCRIPT] },
  { name: '(b) C program writing 10,000 small files', target: 1.05, cmd: join(base, 'writer'), args: ['10000'] },
  { name: '(c) tar -x of 5,000 files', target: 1.1, cmd: 'tar', args: ['-xf', join(base, 'tree.tar')] },
];

const plainEnv = { ...process.env, LC_ALL: 'C' };
delete plainEnv.LD_PRELOAD;
for (const k of Object.keys(plainEnv)) if (k.startsWith('HPCM_')) delete plainEnv[k];
const shimEnv = {
  ...plainEnv,
  LD_PRELOAD: `${shimDir}/build/$LIB/libhpcmshim.so`,
  HPCM_ROOTS: root,
  HPCM_SPOOL_DIR: spool,
  HPCM_REJECT: '*.tmp',
};

const timeFile = join(base, 'time.out');

/** wall ms, and CPU ms (user + sys of the whole process tree, from /usr/bin/time) */
function once(c, env) {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root);
  for (const f of execFileSync('ls', [spool], { encoding: 'utf8' }).split('\n').filter(Boolean)) rmSync(join(spool, f));
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, c.cmd, ...c.args], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 || r.stderr.length) throw new Error(`${c.name}: exit ${r.status} ${r.stderr}`);
  const [user, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
  return { wall, cpu: (user + sys) * 1000 };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

try {
  console.log(`shim overhead, ${RUNS} interleaved runs per side, spool on ${spoolParent.startsWith('/dev/shm') ? 'tmpfs' : 'disk'}`);
  let failed = 0;
  for (const c of cases.filter((x) => ONLY.includes(x.name[1]))) {
    once(c, plainEnv); // warm caches
    const plain = [];
    const shim = [];
    const ratios = [];
    const cpuRatios = [];
    for (let i = 0; i < RUNS; i++) {
      let p, s;
      if (i % 2) {
        s = once(c, shimEnv);
        p = once(c, plainEnv);
      } else {
        p = once(c, plainEnv);
        s = once(c, shimEnv);
      }
      plain.push(p.wall);
      shim.push(s.wall);
      ratios.push(s.wall / p.wall);
      cpuRatios.push(s.cpu / Math.max(p.cpu, 1));
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    const ratio = median(ratios);
    const ok = ratio <= c.target;
    if (!ok) failed++;
    console.log(
      `${c.name}: no-shim ${median(plain).toFixed(1)} ms, shim ${median(shim).toFixed(1)} ms, ` +
        `ratio ${ratio.toFixed(3)}x (target <= ${c.target}x) ${ok ? 'OK' : 'OVER'}; CPU ratio ${median(cpuRatios).toFixed(3)}x`,
    );
  }
  process.exitCode = failed ? 1 : 0;
} finally {
  cleanup();
}
