import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hpcmirror, SandboxUnderTest } from './cli-harness.js';
import { differencesUnder, expectConverged, logTails, shellInCase, shimSpawn } from './mirror-checks.js';

/**
 * The cases the promise is most easily broken by, one test each, in one sandbox (sftp). Each test
 * works in its own directory of the source and audits only that directory, so the tests run at the
 * same time (`wait` waits for everything announced before it, theirs included, which is harmless).
 * Every step that matters is followed by `wait` and an audit with content: no difference.
 */
describe.concurrent('convergence: named cases', () => {
  const sb = new SandboxUnderTest('sftp');
  beforeAll(async () => { await sb.up(); }, 300_000);
  afterAll(async () => {
    await sb.down();
  }, 120_000);

  const inCase = (name: string, script: string) => shellInCase(sb, name, script);
  /** A scratch directory outside the mirrored root (what is written there is never announced). */
  const outside = (name: string): string => {
    const dir = join(sb.dir, 'outside', name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const converged = (name: string, step: string) => expectConverged(sb, name, `test "${name}", step "${step}" (a fixed script, no seed)`);

  /** `wait PATH...`: returns once source and destination agree on these paths, within the time box. */
  const waitForPaths = async (paths: string[], timeoutS = 120) => {
    const r = await hpcmirror(['wait', '--sandbox', sb.dir, '--timeout', String(timeoutS), ...paths], { timeoutMs: (timeoutS + 60) * 1000 });
    if (r.code !== 0) throw new Error(`wait ${paths.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}\n${logTails(sb)}`);
  };

  /** Until the writer has written SIZE bytes to PATH (a writer under a loaded machine may start late). */
  const sourceSize = async (path: string, size: number) => {
    for (let i = 0; i < 1200; i++) {
      if ((statSync(path, { throwIfNoEntry: false })?.size ?? -1) === size) return;
      await sleep(100);
    }
    throw new Error(`${path} never reached ${size} bytes`);
  };

  it('a symlink re-pointed A -> B -> A ends at A (within one coalescing window, and with the mirror caught up in between)', async () => {
    await inCase('symlink', 'echo a > A; echo b > B; ln -s A cur; ln -s B other');
    await converged('symlink', 'created');
    // The winnow must not take the last A for a duplicate of the first one (its last forwarded key).
    await inCase('symlink', 'ln -sfn B cur; ln -sfn A cur; ln -sfn A other; ln -sfn B other; rm B; echo b2 > B');
    await converged('symlink', 'A -> B -> A within a second');
    await inCase('symlink', 'ln -sfn B cur');
    await converged('symlink', 'A -> B');
    await inCase('symlink', 'rm cur; ln -s A cur');
    await converged('symlink', 'B -> A by remove and create');
  }, 900_000);

  it('a file removed and re-created with an old mtime (cp -p, tar -x) gets the re-created content', async () => {
    const keep = outside('recreate');
    // The restored versions have the size of the current ones and an mtime of long ago.
    await inCase('recreate', `
      printf 'version-1\\n' > f
      printf 'VERSION-2\\n' > ${keep}/f; touch -d @1600000000.123456789 ${keep}/f
      printf 'archived-3\\n' > ${keep}/g; touch -d @1500000000 ${keep}/g
      HPCM_SHIM=0 tar -cf ${keep}/g.tar -C ${keep} g
      printf 'original-4\\n' > g`);
    await converged('recreate', 'current versions');
    await inCase('recreate', `rm f; cp -p ${keep}/f f; tar -xf ${keep}/g.tar`);
    await converged('recreate', 'rm + cp -p, tar -x over the file');
  }, 900_000);

  /*
   * Size and mtime alike, only the inode (or, when ext4 hands the freed inode number to the new file,
   * the ctime) tells the versions apart: the subscriber records on each copy which source inode and
   * ctime it came from (xattr user.hpcm.src) and compares content when they differ. The writer sets
   * the old mtime before its close (as rsync and many restore tools do), so the close already
   * announces size and mtime equal to the destination's: without the record the stale copy stays
   * every time (tar -x or cp -p set the mtime after the close, so whether they show it depends on timing).
   */
  it('a file replaced by a version of the same size and the same mtime (unlink, create, mtime set before the close) gets the new content', async () => {
    await inCase('same-mtime', "printf 'version-1\\n' > f; touch -d @1600000000 f");
    await converged('same-mtime', 'first version');
    await inCase('same-mtime', `python3 -c "
import os
os.unlink('f')
fd = os.open('f', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, b'VERSION-2\\n')
os.utime(fd, ns=(1600000000 * 10**9, 1600000000 * 10**9))
os.close(fd)"`);
    await converged('same-mtime', 're-created: same size, mtime set before the close');
  }, 900_000);

  it('same-size rewrites within one second, mirrored or not in between, end with the last content', async () => {
    await inCase('samesize', 'for i in 1 2 3 4 5 6 7 8 9; do printf "round-$i\\n" > f; printf "ROUND-$i\\n" > g; sleep 0.15; printf "Round-$i\\n" > g; done');
    // In place, keeping the inode: only content and ctime/mtime change.
    await inCase('samesize', 'printf "aaaaaaa\\n" > h; printf "bbbbbbb\\n" 1<> h; printf "ccccccc\\n" 1<> h');
    await converged('samesize', 'rewrites 150 ms apart and in place');
  }, 900_000);

  it('a directory renamed while its files are still being copied', async () => {
    await inCase('dirmove', `
      mkdir -p run/out
      for i in $(seq 1 24); do head -c $((256 * 1024 + i)) /dev/urandom > run/out/part_$i; done
      mv run run.done
      head -c 100000 /dev/urandom > run.done/out/part_late
      mkdir run; echo again > run/fresh          # the old name comes back at once
      mv run.done/out run.done/final`);
    await converged('dirmove', 'renamed during the copies');
    // Nothing is written into the re-created directory: no later change shows its stale children.
    await inCase('dirmove', 'mv run.done run.old; mkdir run.done; mv run run.done/inner; mkdir run');
    await converged('dirmove', 'renamed, old names re-created empty at once');
  }, 900_000);

  it('*.tmp names (excluded) renamed into place, over a file, and out of place', async () => {
    await inCase('tmpnames', `
      printf 'v1\\n' > result.dat.tmp; mv result.dat.tmp result.dat
      printf 'v2, longer\\n' > result.dat.tmp; mv result.dat.tmp result.dat
      mkdir stage.tmp; echo inner > stage.tmp/inner; mv stage.tmp stage
      printf 'leaving\\n' > keep; mv keep keep.tmp`);
    // The audit leaves out only `missing` *.tmp names; an `extra` one on the destination would count.
    await converged('tmpnames', 'renamed across the filter');
    // A listing (here the subtree compare of a directory rename) finds a *.tmp being written: the
    // subscriber must not copy it, since nothing announces its rename into place or its removal.
    await inCase('tmpnames', 'mkdir run; echo partial > run/out.dat.tmp; mv run run.2');
    await converged('tmpnames', 'directory renamed with a *.tmp inside');
    await inCase('tmpnames', 'printf "done\\n" > run.2/out.dat.tmp; mv run.2/out.dat.tmp run.2/out.dat');
    await converged('tmpnames', 'the listed *.tmp renamed into place');
  }, 900_000);

  it('a rewrite of one member of a hard-link group reaches every member; a replaced member leaves the group', async () => {
    await inCase('hardlinks', 'printf "v1\\n" > a; ln a b; mkdir sub; ln a sub/c');
    await converged('hardlinks', 'group of three');
    await inCase('hardlinks', 'printf "version 2, longer\\n" > b');
    await converged('hardlinks', 'b rewritten in place (O_TRUNC)');
    await inCase('hardlinks', 'printf "appended\\n" >> sub/c; sed -i s/version/VERSION/ a');
    await converged('hardlinks', 'sub/c appended, a replaced by sed -i (new inode)');
  }, 900_000);

  it('a member rewritten and then removed or renamed away at once: the other members get the new content', async () => {
    // Only the written name is announced, and it no longer holds the inode when its message is applied.
    await inCase('hardlinks-gone', 'printf "v1\\n" > a; ln a b; mkdir sub; ln a sub/c; printf "w1\\n" > x; ln x y');
    await converged('hardlinks-gone', 'two groups');
    await inCase('hardlinks-gone', 'printf "version 2, longer\\n" >> b && rm b');
    await converged('hardlinks-gone', 'b appended, then removed');
    await inCase('hardlinks-gone', 'printf "w2, longer\\n" >> y && mv y z && printf "another file\\n" > z.new && mv z.new z');
    await converged('hardlinks-gone', 'y appended, renamed to z, z replaced');
  }, 900_000);

  it('a chmod alone (files and directories), and through a symlink', async () => {
    await inCase('chmod', 'printf "x\\n" > f; printf "y\\n" > g; mkdir d; printf "z\\n" > d/h; printf "0123456789\\n" > t; ln -s t link; ln -s d dlink');
    await converged('chmod', 'created');
    await inCase('chmod', 'chmod 600 f; chmod 0444 g; chmod 750 d; chmod 755 d/h; chmod 640 link; chmod 700 dlink');
    await converged('chmod', 'chmod only');
  }, 900_000);

  it('a file never closed by its writer is mirrored once quiet and again after it grows; a SIGKILLed writer\'s file too', async () => {
    const dir = outside('held');
    const signal = join(dir, 'go');
    mkdirSync(join(sb.src, 'held'), { recursive: true });
    writeFileSync(join(dir, 'writer.py'), [
      'import os, sys, time',
      "f = open('held.log', 'w')",
      "f.write('part one\\n' * 500); f.flush()",
      `while not os.path.exists(${JSON.stringify(signal)}): time.sleep(0.1)`,
      "f.write('part two\\n' * 300); f.flush()",
      'time.sleep(900)',
    ].join('\n'));
    const writer = shimSpawn(sb, ['python3', join(dir, 'writer.py')], join(sb.src, 'held'));
    try {
      // Not closed, not exited: announced once quiet (dirty_quiet_s: 5 in the sandbox config).
      const log = join(sb.src, 'held', 'held.log');
      await sourceSize(log, 4500);
      await waitForPaths([log]);
      writeFileSync(signal, '');
      await sourceSize(log, 4500 + 2700);
      await waitForPaths([log]);
      expect(await differencesUnder(sb, 'held')).toEqual([]);
    } finally {
      writer.kill('SIGKILL');
    }
    // Killed right after writing: no close, no exit record; the agent notices that the pid is gone.
    const killed = await shimSpawn(sb, ['python3', '-c', "import os; f = open('killed.dat', 'w'); f.write('written, never closed\\n' * 100); f.flush(); os.kill(os.getpid(), 9)"], join(sb.src, 'held')).done;
    expect(killed.code).not.toBe(0);
    await waitForPaths([join(sb.src, 'held', 'killed.dat')]);
    await converged('held', 'writers gone');
  }, 900_000);
});
