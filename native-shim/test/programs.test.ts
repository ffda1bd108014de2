/**
 * Real programs under the real shim: same stdout, exit code and stderr as without it, and every
 * change they make shows up in the spool.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpoolRecord } from '../../packages/agent/src/spool/record.js';
import { buildShim, compileProg, makeSandbox, rel, runBoth, summary, type RunResult, type Sandbox } from './helpers/shim-harness.js';

let sb: Sandbox;
let bin: string;

beforeAll(async () => {
  buildShim();
  sb = makeSandbox('programs');
  bin = join(sb.base, 'bin');
  mkdirSync(bin);
  await compileProg(bin, 'mt-writer');
});

afterAll(() => sb?.cleanup());

function expectSame(plain: RunResult, shimmed: RunResult): void {
  expect(shimmed.stderr).toBe(plain.stderr);
  expect(shimmed.stdout).toBe(plain.stdout);
  expect(shimmed.status).toBe(plain.status);
  expect(shimmed.signal).toBeNull();
}

/** each expected "OP relpath" (or "OP relpath <- relpath2") appears among the records */
function expectRecorded(records: SpoolRecord[], expected: string[]): void {
  const have = new Set(summary(sb, records));
  const missing = expected.filter((e) => !have.has(e));
  expect(missing, `recorded:\n${[...have].join('\n')}`).toEqual([]);
}

/** the last CLOSE_W (or CHANGED) of relpath carries this size */
function sizeAtClose(records: SpoolRecord[], relpath: string): bigint | undefined {
  const r = records.filter((x) => (x.op === 'CLOSE_W' || x.op === 'CHANGED') && rel(sb, x.path) === relpath).at(-1);
  return r?.stat?.size;
}

const noExitCrash = (records: SpoolRecord[]): void => {
  expect(records.some((r) => r.op === 'EXIT')).toBe(true);
};

describe('real programs under the shim', () => {
  it('bash: redirections, builtins, external commands', async () => {
    const script = [
      'echo hello > a.txt',
      'echo more >> a.txt',
      'printf "%s\\n" one two > b.txt',
      'exec 3> c.txt; echo via-fd3 >&3; exec 3>&-',
      '{ echo grouped; } > d.txt',
      'cat a.txt > e.txt',
      'mv e.txt f.txt',
      'ln -s f.txt g',
      'mkdir sub && rmdir sub',
      'rm b.txt',
      'cat a.txt c.txt d.txt f.txt',
    ].join('\n');
    const { plain, shimmed, records } = await runBoth(sb, 'bash', ['-c', script]);
    expectSame(plain, shimmed);
    expectRecorded(records, [
      'OPEN_W a.txt', 'CLOSE_W a.txt', 'CLOSE_W b.txt', 'CLOSE_W c.txt', 'CLOSE_W d.txt', 'OPEN_W e.txt',
      'RENAME f.txt <- e.txt', 'SYMLINK g <- f.txt', 'MKDIR sub', 'RMDIR sub', 'UNLINK b.txt',
    ]);
    expect(sizeAtClose(records, 'a.txt')).toBe(11n);
    expect(sizeAtClose(records, 'c.txt')).toBe(8n);
    expect(sizeAtClose(records, 'd.txt')).toBe(8n);
    expect(sizeAtClose(records, 'e.txt')).toBe(11n);
  });

  it('dash: redirections and a pipeline', async () => {
    const { plain, shimmed, records } = await runBoth(sb, 'dash', ['-c', 'echo x > a; echo y >> a; cat a | tr x z > b; cat b']);
    expectSame(plain, shimmed);
    expectRecorded(records, ['OPEN_W a', 'CLOSE_W a', 'CLOSE_W b']);
    expect(sizeAtClose(records, 'a')).toBe(4n);
    expect(sizeAtClose(records, 'b')).toBe(4n);
  });

  it('coreutils: cp, mv, rm, ln, install, touch, truncate, chmod', async () => {
    const script = [
      'echo data > src', 'cp src copy', 'cp -p src copy-p', 'mv copy moved', 'ln moved hard', 'ln -s moved soft',
      'install -m 0640 src installed', 'touch touched', 'truncate -s 100 touched', 'chmod 600 src', 'rm hard',
      'mkdir -p d/e', 'cp -r d d2', 'rm -r d', 'ls',
    ].join(' && ');
    const { plain, shimmed, records } = await runBoth(sb, 'bash', ['-c', script]);
    expectSame(plain, shimmed);
    expect(shimmed.status).toBe(0); // no crash at exit (sarrac: cp/install exit 139)
    expectRecorded(records, [
      'CLOSE_W copy', 'CLOSE_W copy-p', 'RENAME moved <- copy', 'LINK hard <- moved', 'SYMLINK soft <- moved',
      'CLOSE_W installed', 'CLOSE_W touched', 'META src', 'UNLINK hard', 'MKDIR d', 'MKDIR d/e',
      'MKDIR d2', 'MKDIR d2/e', 'RMDIR d/e', 'RMDIR d',
    ]);
    expect(sizeAtClose(records, 'copy')).toBe(5n);
    expect(sizeAtClose(records, 'touched')).toBe(100n);
    expect(records.find((r) => r.op === 'META' && rel(sb, r.path) === 'src')?.stat?.mode).toBe(0o100600);
    noExitCrash(records);
  });

  it('tar -c and tar -x', async () => {
    const prepare = (): void => {
      mkdirSync(join(sb.outside, 'tree', 'sub'), { recursive: true });
      for (let i = 0; i < 20; i++) writeFileSync(join(sb.outside, 'tree', i % 2 ? 'sub' : '', `f${i}`), `file ${i}\n`);
    };
    const script = `tar -C ${sb.outside} -cf ${sb.outside}/t.tar tree && tar -xf ${sb.outside}/t.tar && find tree -type f | sort | wc -l`;
    const { plain, shimmed, records } = await runBoth(sb, 'bash', ['-c', script], { prepare });
    expectSame(plain, shimmed);
    const expected = ['MKDIR tree', 'MKDIR tree/sub'];
    for (let i = 0; i < 20; i++) expected.push(`CLOSE_W tree/${i % 2 ? 'sub/' : ''}f${i}`);
    expectRecorded(records, expected);
    expect(records.some((r) => rel(sb, r.path).startsWith(sb.outside))).toBe(false); // the .tar is outside
  });

  it('sed -i (temp file renamed over the original)', async () => {
    const { plain, shimmed, records } = await runBoth(sb, 'bash', ['-c', 'printf "a\\nb\\n" > f && sed -i s/a/A/ f && cat f']);
    expectSame(plain, shimmed);
    const rename = records.find((r) => r.op === 'RENAME' && rel(sb, r.path) === 'f');
    expect(rename).toBeDefined();
    expect(rel(sb, rename!.path2)).toMatch(/^sed/);
    expect(rename!.stat?.size).toBe(4n);
  });

  it('python3 and perl', async () => {
    const py = [
      'import os',
      'open("p.txt","w").write("py\\n")',
      'os.rename("p.txt","q.txt")',
      'os.symlink("q.txt","r")',
      'os.mkdir("pd")',
      'os.link("q.txt","pd/h")',
      'os.remove("r")',
      'print(sorted(os.listdir(".")))',
    ].join('\n');
    const pl = 'open(my $f, ">", "perl.txt") or die; print $f "perl\\n"; close $f; rename "perl.txt", "perl2.txt"; link "perl2.txt", "perl3.txt"; unlink "perl3.txt"; print "ok\\n";';
    const { plain, shimmed, records } = await runBoth(sb, 'bash', ['-c', `python3 -c '${py}' && perl -e '${pl}'`]);
    expectSame(plain, shimmed);
    expectRecorded(records, [
      'OPEN_W p.txt', 'CLOSE_W p.txt', 'RENAME q.txt <- p.txt', 'SYMLINK r <- q.txt', 'MKDIR pd', 'LINK pd/h <- q.txt',
      'UNLINK r', 'CLOSE_W perl.txt', 'RENAME perl2.txt <- perl.txt', 'LINK perl3.txt <- perl2.txt', 'UNLINK perl3.txt',
    ]);
  });

  it('gcc compiles and links a program', async () => {
    const prepare = (): void => writeFileSync(join(sb.root, 'm.c'), 'int main(void){return 7;}\n');
    const { plain, shimmed, records } = await runBoth(sb, 'bash', ['-c', 'gcc -c m.c -o m.o && gcc m.o -o m && ./m; echo $?'], { prepare });
    expectSame(plain, shimmed);
    expect(shimmed.stdout).toBe('7\n');
    const changed = new Set(records.filter((r) => ['CLOSE_W', 'CHANGED', 'RENAME', 'META'].includes(r.op)).map((r) => rel(sb, r.path)));
    expect(changed.has('m.o')).toBe(true);
    expect(changed.has('m')).toBe(true);
  });

  it('git init, add and commit', async () => {
    const prepare = (): void => writeFileSync(join(sb.root, 'readme'), 'hi\n');
    const env = {
      GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e',
      GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z', GIT_CONFIG_NOSYSTEM: '1',
      HOME: sb.outside,
    };
    const { plain, shimmed, records } = await runBoth(
      sb, 'bash', ['-c', 'git init -q -b main . && git add readme && git commit -q -m first && git log --format=%H'], { prepare, env },
    );
    expectSame(plain, shimmed);
    const paths = new Set(records.map((r) => rel(sb, r.path)));
    expect(paths.has('.git/index')).toBe(true);
    expect(paths.has('.git/refs/heads/main')).toBe(true);
    expect([...paths].some((p) => p.startsWith('.git/objects/'))).toBe(true);
  });

  it('make runs recipes', async () => {
    const prepare = (): void =>
      writeFileSync(join(sb.root, 'Makefile'), 'all: out2.txt\nout.txt:\n\techo built > $@\nout2.txt: out.txt\n\tcp $< $@\n');
    const { plain, shimmed, records } = await runBoth(sb, 'make', ['-s'], { prepare });
    expectSame(plain, shimmed);
    expectRecorded(records, ['CLOSE_W out.txt', 'CLOSE_W out2.txt']);
  });

  it('rsync (local) into the root', async () => {
    const prepare = (): void => {
      mkdirSync(join(sb.outside, 'src', 'd'), { recursive: true });
      for (let i = 0; i < 5; i++) writeFileSync(join(sb.outside, 'src', 'd', `r${i}`), `rsync ${i}\n`);
    };
    const { plain, shimmed, records } = await runBoth(sb, 'rsync', ['-a', `${sb.outside}/src/`, 'dst/'], { prepare });
    expectSame(plain, shimmed);
    const renamed = new Set(records.filter((r) => r.op === 'RENAME').map((r) => rel(sb, r.path)));
    for (let i = 0; i < 5; i++) expect(renamed.has(`dst/d/r${i}`)).toBe(true);
    expectRecorded(records, ['MKDIR dst', 'MKDIR dst/d']);
  });

  it('a multithreaded C writer', async () => {
    const { plain, shimmed, records } = await runBoth(sb, join(bin, 'mt-writer'), ['8', '40']);
    expectSame(plain, shimmed);
    const closed = new Set(records.filter((r) => r.op === 'CLOSE_W').map((r) => rel(sb, r.path)));
    const renamed = new Set(records.filter((r) => r.op === 'RENAME').map((r) => rel(sb, r.path)));
    for (let t = 0; t < 8; t++) {
      for (let i = 0; i < 40; i++) {
        expect(closed.has(`t${t}-${i}.dat`)).toBe(true);
        if (i % 2) expect(renamed.has(`t${t}-${i}.done`)).toBe(true);
      }
    }
    const seqs = records.filter((r) => r.op !== 'EXIT').map((r) => r.seq).sort((a, b) => a - b);
    expect(new Set(seqs).size).toBe(seqs.length); // one process: every sequence number once
  });
});
