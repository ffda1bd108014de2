/**
 * The cases the shim must get right beyond everyday programs: never-closed and killed writers,
 * mmap, O_TMPFILE, excluded temp names, fds taken away from the shim, static and 32-bit
 * programs, fork/exec, errno, long and non-UTF-8 paths, and the spool's own safety rules.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordFlag, type SpoolRecord } from '../../packages/agent/src/spool/record.js';
import {
  buildShim, clearSpool, compileProg, makeSandbox, PRELOAD, readSpool, rel, resetTrees, run, runBoth, shimEnv,
  SHIM_DIR, summary, type RunResult, type Sandbox,
} from './helpers/shim-harness.js';

let sb: Sandbox;
let bin: string;
const progs = { fd: '', at: '', errno: '', fork: '', static: '', hello32: '' };
let can32 = false;

beforeAll(async () => {
  buildShim();
  sb = makeSandbox('edge');
  bin = join(sb.base, 'bin');
  mkdirSync(bin);
  const built = await Promise.all([
    compileProg(bin, 'fd-cases'),
    compileProg(bin, 'at-cases'),
    compileProg(bin, 'errno-cases'),
    compileProg(bin, 'fork-exec'),
    compileProg(bin, 'hello', 'hello-static', ['-static']),
    compileProg(bin, 'hello', 'hello32', ['-m32']).catch(() => ''),
  ]);
  [progs.fd, progs.at, progs.errno, progs.fork, progs.static, progs.hello32] = built;
  if (progs.hello32) can32 = (await run(progs.hello32, [])).status === 0;
});

afterAll(() => sb?.cleanup());

const expectSame = (plain: RunResult, shimmed: RunResult): void => {
  expect(shimmed.stderr).toBe(plain.stderr);
  expect(shimmed.stdout).toBe(plain.stdout);
  expect(shimmed.status).toBe(plain.status);
};

const of = (records: SpoolRecord[], op: string, relpath: string): SpoolRecord[] =>
  records.filter((r) => r.op === op && rel(sb, r.path) === relpath);

/** runs once with the shim only (trees and spool reset first) */
async function shimmed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ res: RunResult; records: SpoolRecord[] }> {
  resetTrees(sb);
  clearSpool(sb);
  const res = await run(cmd, args, { cwd: sb.root, env: shimEnv(sb, env) });
  return { res, records: readSpool(sb) };
}

describe('files renamed while open', () => {
  it('a close names the file where it is now (renamed, directory renamed, replaced), unlinked: nothing', async () => {
    const { plain, shimmed: s, records } = await runBoth(sb, progs.fd, ['renamed-open']);
    expectSame(plain, s);
    const closes = records.filter((r) => r.op === 'CLOSE_W').map((r) => `${rel(sb, r.path)} ${r.stat?.size}`);
    expect(closes.sort()).toEqual(['other.dat 25', 'run.1/a2.dat 13', 'run.1/b.dat 12', 'same.dat 27'].sort());
  });
});

describe('several redirections of one command', () => {
  it('each file gets its close: `cmd > a 2> b` (two dup\'ed opens once shared an origin id)', async () => {
    const { res, records } = await shimmed('bash', ['-c', 'echo x > first; echo a > a 2> b; echo c 2> c > d']);
    expect(res.status).toBe(0);
    const closes = records.filter((r) => r.op === 'CLOSE_W').map((r) => rel(sb, r.path));
    expect(closes.sort()).toEqual(['a', 'b', 'c', 'd', 'first']);
  });
});

describe('writers that never close', () => {
  it('records OPEN_W then EXIT for a file left open at exit', async () => {
    const { plain, shimmed: s, records } = await runBoth(sb, progs.fd, ['never-closed']);
    expectSame(plain, s);
    const open = of(records, 'OPEN_W', 'open.dat');
    expect(open).toHaveLength(1);
    expect(of(records, 'CLOSE_W', 'open.dat')).toHaveLength(0);
    const exit = records.find((r) => r.op === 'EXIT' && r.pid === open[0]!.pid);
    expect(exit).toBeDefined();
    expect(exit!.seq).toBeGreaterThan(open[0]!.seq);
  });

  it('leaves only OPEN_W after SIGKILL', async () => {
    resetTrees(sb);
    clearSpool(sb);
    const { spawn } = await import('node:child_process');
    const child = spawn(progs.fd, ['killed'], { cwd: sb.root, env: shimEnv(sb), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    const records = readSpool(sb);
    expect(summary(sb, records)).toEqual(['OPEN_W killed.dat']);
    expect(records[0]!.pid).toBe(child.pid);
    expect(stderr).toBe('');
  });
});

describe('content written without write()', () => {
  it('mmap writes are announced at close; a read-write open that only read is marked unchanged', async () => {
    const prepare = (): void => {
      writeFileSync(join(sb.root, 'existing.dat'), Buffer.alloc(4096, 'e'));
      writeFileSync(join(sb.root, 'readonly-rw.dat'), 'just read\n');
    };
    const settle = (): void => {
      prepare();
      const until = Date.now() + 150; // ctime must be older than the shim's coarse-clock window
      while (Date.now() < until) { /* spin */ }
    };
    const { plain, shimmed: s, records } = await runBoth(sb, progs.fd, ['mmap'], { prepare: settle });
    expectSame(plain, s);
    const mapped = of(records, 'CLOSE_W', 'mapped.dat');
    expect(mapped.at(-1)?.stat?.size).toBe(8192n);
    const existing = of(records, 'CLOSE_W', 'existing.dat');
    expect(existing).toHaveLength(1);
    expect(existing[0]!.flags & RecordFlag.UNCHANGED).toBe(0);
    const readOnly = of(records, 'CLOSE_W', 'readonly-rw.dat');
    expect(readOnly).toHaveLength(1);
    expect(readOnly[0]!.flags & RecordFlag.UNCHANGED).toBe(RecordFlag.UNCHANGED);
  });

  it('an O_TMPFILE linked into place (AT_EMPTY_PATH and /proc/self/fd) is a content change of its name', async () => {
    const { plain, shimmed: s, records } = await runBoth(sb, progs.fd, ['tmpfile']);
    expectSame(plain, s);
    for (const name of ['published1.dat', 'published2.dat']) {
      const changed = of(records, 'CHANGED', name);
      expect(changed).toHaveLength(1);
      expect(changed[0]!.stat?.size).toBe(14n);
    }
    expect(records.filter((r) => r.op !== 'EXIT' && !rel(sb, r.path).startsWith('published'))).toEqual([]);
  });
});

describe('names and boundaries', () => {
  it('chmod 600 alone is one META with the new mode', async () => {
    const prepare = (): void => writeFileSync(join(sb.root, 'f'), 'x');
    const { plain, shimmed: s, records } = await runBoth(sb, 'chmod', ['600', 'f'], { prepare });
    expectSame(plain, s);
    expect(summary(sb, records)).toEqual(['META f', 'EXIT']);
    expect(records[0]!.stat!.mode).toBe(0o100600);
  });

  it('*.tmp renamed into place: RENAME marked "old path excluded"; the temp file itself is never announced', async () => {
    const script = 'echo data > a.tmp && mv a.tmp a && mv a b.tmp && mv b.tmp c && echo out > ../outside/o && mv ../outside/o in && mv in ../outside/o2';
    const { plain, shimmed: s, records } = await runBoth(sb, 'bash', ['-c', script]);
    expectSame(plain, s);
    const renames = records.filter((r) => r.op === 'RENAME');
    const line = (r: SpoolRecord): string =>
      `${rel(sb, r.path)} <- ${rel(sb, r.path2)} ${r.flags & RecordFlag.PATH_OUT ? 'new-out' : ''}${r.flags & RecordFlag.PATH2_OUT ? 'old-out' : ''}`;
    expect(renames.map(line)).toEqual([
      'a <- a.tmp old-out',
      'b.tmp <- a new-out',
      'c <- b.tmp old-out',
      `in <- ${sb.outside}/o old-out`,
      `${sb.outside}/o2 <- in new-out`,
    ]);
    expect(records.some((r) => r.op !== 'RENAME' && /\.tmp$|outside/.test(rel(sb, r.path)))).toBe(false);
    expect(renames[0]!.stat?.size).toBe(5n);
  });

  it('*at calls with a dirfd, raw syscall(SYS_renameat2), hard links: absolute paths, right ops', async () => {
    const { plain, shimmed: s, records } = await runBoth(sb, progs.at, ['w']);
    expectSame(plain, s);
    expect(s.stdout).toContain('noreplace onto existing: -1 File exists');
    const lines = summary(sb, records).filter((l) => l !== 'EXIT');
    expect(lines).toEqual([
      'MKDIR w', 'MKDIR w/made', 'OPEN_W w/made/a.dat', 'CLOSE_W w/made/a.dat', 'LINK w/hard.dat <- w/made/a.dat',
      'RENAME w/moved.dat <- w/made/a.dat', 'SYMLINK w/sym <- moved.dat', 'OPEN_W w/b.dat', 'CLOSE_W w/b.dat',
      'RENAME w/b.dat <- w/moved.dat', 'RENAME w/c.dat <- w/b.dat', 'META w/c.dat', 'UNLINK w/sym', 'RMDIR w/made',
    ]);
    const exchange = records.find((r) => r.op === 'RENAME' && rel(sb, r.path) === 'w/b.dat')!;
    expect(exchange.flags & RecordFlag.EXCHANGE).toBe(RecordFlag.EXCHANGE);
    const noreplace = records.find((r) => r.op === 'RENAME' && rel(sb, r.path) === 'w/c.dat')!;
    expect(noreplace.flags & RecordFlag.NOREPLACE).toBe(RecordFlag.NOREPLACE);
    for (const r of records) if (r.op !== 'EXIT') expect(r.path.toString()).toMatch(new RegExp(`^${sb.root}/w(/|$)`));
  });

  it('records 4000-byte paths and non-UTF-8 names byte for byte', async () => {
    resetTrees(sb);
    let dir = sb.root;
    while (dir.length < 3700) dir = join(dir, 'd'.repeat(200));
    mkdirSync(dir, { recursive: true });
    const p1 = join(dir, 'x'.repeat(4000 - dir.length - 1));
    const p2 = join(dir, 'y'.repeat(4000 - dir.length - 1));
    expect(p1.length).toBe(4000);
    clearSpool(sb);
    const res = await run('bash', ['-c', `echo x > "$1" && mv "$1" "$2" && cd "$3" && echo z > rel && echo w > $'\\xff\\xfe\\x80name'`, '_', p1, p2, dir], {
      cwd: sb.root, env: shimEnv(sb),
    });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const records = readSpool(sb);
    const rename = records.find((r) => r.op === 'RENAME')!;
    expect(rename.path.toString()).toBe(p2);
    expect(rename.path2!.toString()).toBe(p1);
    expect(rename.length).toBe(96 + 8000);
    expect(records.some((r) => r.op === 'CLOSE_W' && r.path.toString() === join(dir, 'rel'))).toBe(true);
    const raw = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('name')]);
    expect(records.some((r) => r.op === 'CLOSE_W' && r.path.equals(raw))).toBe(true);
  });
});

describe('the spool fd is never the program\'s', () => {
  it('survives close_range(3, ~0U, 0), raw close_range + dup3 onto every fd, and closefrom', async () => {
    const { plain, shimmed: s, records } = await runBoth(sb, progs.fd, ['close-range']);
    expectSame(plain, s);
    expect(s.stdout).toContain('clean');
    const closed = new Set(records.filter((r) => r.op === 'CLOSE_W').map((r) => rel(sb, r.path)));
    for (const f of ['before.dat', 'after0.dat', 'after2.dat', 'late0.dat', 'late2.dat', 'final.dat']) expect(closed.has(f)).toBe(true);
    expect(readFileSync(join(sb.root, 'hijack.dat')).includes('HPMR')).toBe(false);
  });

  it('dup2 over a written fd announces its close; the shell pattern (dup2 onto 1, close, restore) announces once', async () => {
    const { plain, shimmed: s, records } = await runBoth(sb, progs.fd, ['dup2']);
    expectSame(plain, s);
    const replaced = of(records, 'CLOSE_W', 'replaced.dat');
    expect(replaced).toHaveLength(1);
    expect(replaced[0]!.stat?.size).toBe(3n);
    const redirected = of(records, 'CLOSE_W', 'redirected.dat');
    expect(redirected).toHaveLength(1);
    expect(redirected[0]!.stat?.size).toBe(12n);
  });
});

describe('processes', () => {
  it('fork and fork+exec children are recorded with their own pid and sequence', async () => {
    const { res, records } = await shimmed(progs.fork, []);
    expect(res.status).toBe(0);
    expect(res.stderr).toBe('');
    const pid = (label: string): number => Number(new RegExp(`${label} (\\d+)`).exec(res.stdout)![1]);
    const byPath = (p: string): SpoolRecord => of(records, 'OPEN_W', p)[0]!;
    expect(byPath('parent1.dat').pid).toBe(pid('parent'));
    expect(byPath('parent2.dat').pid).toBe(pid('parent'));
    expect(byPath('child.dat').pid).toBe(pid('child'));
    expect(byPath('exec.dat').pid).toBe(pid('exec'));
    expect(byPath('child.dat').seq).toBe(1);
    for (const p of [pid('parent'), pid('child'), pid('exec')]) {
      const seqs = records.filter((r) => r.pid === p).map((r) => r.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(records.filter((r) => r.pid === p && r.op === 'EXIT')).toHaveLength(1);
    }
  });

  it('preserves errno for failing and succeeding calls', async () => {
    const { plain, shimmed: s } = await runBoth(sb, progs.errno, []);
    expectSame(plain, s);
    expect(s.stdout).toContain('open missing rc=-1 errno=2');
    expect(s.stdout).toContain('open ok rc=0 errno=4242');
  });

  it('HPCM_SHIM=0 switches the whole process tree off', async () => {
    const { res, records } = await shimmed('bash', ['-c', 'echo a > a && cp a b && mv b c && bash -c "echo d > d"'], { HPCM_SHIM: '0' });
    expect(res.status).toBe(0);
    expect(records).toEqual([]);
  });

  it('a statically linked program runs unchanged (and unrecorded)', async () => {
    const { plain, shimmed: s, records } = await runBoth(sb, progs.static, ['static.dat']);
    expectSame(plain, s);
    expect(s.stdout).toBe('hello\n');
    expect(records).toEqual([]);
  });

  it('the $LIB preload path serves 32-bit programs without an ld.so warning', async (ctx) => {
    const lib32 = join(SHIM_DIR, 'build', 'lib', 'i386-linux-gnu', 'libhpcmshim.so');
    expect(PRELOAD).toContain('$LIB');
    if (progs.hello32 === '') ctx.skip('no 32-bit toolchain (gcc-multilib)');
    const elf = readFileSync(lib32);
    expect(elf[4]).toBe(1); // ELFCLASS32
    expect(elf.readUInt16LE(18)).toBe(3); // EM_386
    if (!can32) ctx.skip('this kernel cannot execute 32-bit programs (no IA32 emulation)');
    const { plain, shimmed: s, records } = await runBoth(sb, progs.hello32, ['h32.dat']);
    expectSame(plain, s);
    expect(s.stderr).toBe('');
    expect(of(records, 'CLOSE_W', 'h32.dat')).toHaveLength(1);
  });
});

describe('spool directory rules', () => {
  it('stays passive when the spool dir is not 0700, is a symlink, or is inside a root', async () => {
    for (const setup of ['mode', 'symlink', 'inside'] as const) {
      resetTrees(sb);
      clearSpool(sb);
      let spoolDir = sb.spool;
      if (setup === 'mode') chmodSync(sb.spool, 0o755);
      if (setup === 'symlink') {
        spoolDir = join(sb.outside, 'spool-link');
        symlinkSync(sb.spool, spoolDir);
      }
      if (setup === 'inside') {
        spoolDir = join(sb.root, 'spool');
        mkdirSync(spoolDir, { mode: 0o700 });
      }
      const res = await run('bash', ['-c', 'echo a > a && mv a b'], { cwd: sb.root, env: shimEnv(sb, { HPCM_SPOOL_DIR: spoolDir }) });
      chmodSync(sb.spool, 0o700);
      expect(res.status).toBe(0);
      expect(res.stderr).toBe('');
      expect(readdirSync(sb.spool)).toEqual([]);
      if (setup === 'inside') expect(readdirSync(spoolDir)).toEqual([]);
    }
    expect(readFileSync(join(sb.base, 'shim-debug.log'), 'utf8')).toMatch(/mode is not 0700/);
  });

  it('over the size cap stops writing and leaves a loss marker with the first loss time', async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const { res, records } = await shimmed('bash', ['-c', 'for i in 1 2 3 4 5 6; do echo $i > f$i; done; echo done'], {
      HPCM_SPOOL_MAX_BYTES: '400',
    });
    expect(res.stdout).toBe('done\n');
    expect(res.stderr).toBe('');
    expect(records.length).toBeGreaterThan(0);
    expect(records.reduce((n, r) => n + r.length, 0)).toBeLessThanOrEqual(400);
    const markers = readdirSync(sb.spool).filter((n) => n.endsWith('.loss'));
    expect(markers).toHaveLength(1);
    const lossNs = BigInt(readFileSync(join(sb.spool, markers[0]!), 'utf8'));
    expect(lossNs).toBeGreaterThanOrEqual(before);
    expect(lossNs).toBeLessThanOrEqual(BigInt(Date.now()) * 1_000_000n);
  });

  it('segments are named <host>.<12-digit bucket>.seg and created 0600', async () => {
    const { records } = await shimmed('bash', ['-c', 'echo a > a'], { HPCM_SPOOL_BUCKET_S: '10' });
    expect(records.length).toBeGreaterThan(0);
    const segs = readdirSync(sb.spool);
    expect(segs.every((n) => /^[A-Za-z0-9._-]+\.\d{12}\.seg$/.test(n))).toBe(true);
    for (const n of segs) expect(Number(/\.(\d{12})\.seg$/.exec(n)![1]) % 10).toBe(0);
    expect(existsSync(join(sb.spool, segs[0]!))).toBe(true);
  });
});
