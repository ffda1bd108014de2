import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hpcmirror, SandboxUnderTest } from './cli-harness.js';
import { expectConverged, shimSpawn } from './mirror-checks.js';

/**
 * Watch mode end to end (issue 11): files written by programs the shim cannot see (cp with
 * LD_PRELOAD empty, scp and sftp into the sandbox's sshd, a statically linked binary started from a
 * shimmed shell) reach the mirror through `hpcmirror watch` and the sandbox's agent; a slow writer's
 * file arrives complete; a rename is mirrored; changes made while the watcher was down arrive after
 * its restart. (Exactly-once and exactly-those are checked on the spool in packages/agent/test/watch-spool.)
 */
const noShim = { ...process.env, LD_PRELOAD: '', HPCM_SHIM: '0' };

const STATIC_WRITER = `
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0640);
  if (fd < 0) return 1;
  char buf[4096];
  for (int i = 0; i < 64; i++) { memset(buf, 'a' + i % 26, sizeof buf); if (write(fd, buf, sizeof buf) != sizeof buf) return 1; }
  return close(fd) != 0;
}
`;

describe('watch: trees written without the shim are mirrored', () => {
  const sb = new SandboxUnderTest('sftp');
  let watcher: ChildProcess | undefined;
  let staticBin: string | undefined;
  let sshConfig = '';
  const input = (): string => join(sb.dir, 'input.dat');

  async function startWatcher(): Promise<void> {
    const child = spawn(process.execPath, [CLI, 'watch', '--sandbox', sb.dir], { env: noShim, stdio: ['ignore', 'pipe', 'pipe'] });
    watcher = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`watcher did not start:\n${out}`)), 60_000);
      const see = (d: Buffer): void => {
        out += d.toString();
        if (out.includes('watcher started')) { clearTimeout(t); resolve(); }
      };
      child.stdout!.on('data', see);
      child.stderr!.on('data', see);
      child.on('exit', (code) => { clearTimeout(t); reject(new Error(`watcher exited ${code}:\n${out}`)); });
    });
  }

  /**
   * The watcher announces after the writer is done (inotify, its own event loop), unlike the shim: a
   * `wait` with no PATH may start before the announcement reaches the spool. Waiting for the paths
   * themselves closes that gap; expectConverged then checks the whole tree and reports any difference.
   */
  async function pathsMirrored(rels: string[]): Promise<void> {
    await hpcmirror(['wait', '--sandbox', sb.dir, '--timeout', '150', ...rels.map((r) => join(sb.src, 'watched', r))], { timeoutMs: 210_000 });
  }

  async function stopWatcher(): Promise<void> {
    const child = watcher;
    watcher = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }

  beforeAll(async () => {
    await sb.up();
    const state = JSON.parse(readFileSync(join(sb.dir, 'sandbox.json'), 'utf8')) as { ssh: { sshConfigFile: string } };
    sshConfig = state.ssh.sshConfigFile;
    writeFileSync(input(), Buffer.alloc(300_000, 'w'));
    try {
      writeFileSync(join(sb.dir, 'static-writer.c'), STATIC_WRITER);
      staticBin = join(sb.dir, 'static-writer');
      execFileSync('gcc', ['-static', '-O2', '-o', staticBin, join(sb.dir, 'static-writer.c')]);
    } catch {
      staticBin = undefined; // no static libc here: the other writers still cover the case
    }
    mkdirSync(join(sb.src, 'watched'), { recursive: true });
    await startWatcher();
  }, 300_000);

  afterAll(async () => {
    await stopWatcher();
    await sb.down();
  }, 180_000);

  it('cp without LD_PRELOAD, scp, sftp, a static binary and a slow writer', async () => {
    const w = join(sb.src, 'watched');
    execFileSync('cp', [input(), join(w, 'cp.dat')], { env: noShim });
    execFileSync('scp', ['-q', '-F', sshConfig, input(), `hpcm-sandbox:${join(w, 'scp.dat')}`], { env: noShim });
    execFileSync('sftp', ['-q', '-F', sshConfig, '-b', '-', 'hpcm-sandbox'], { env: noShim, input: `mkdir ${join(w, 'up')}\nput ${input()} ${join(w, 'up', 'sftp.dat')}\n` });
    if (staticBin) {
      const r = await shimSpawn(sb, [staticBin, join(w, 'static.dat')]).done;
      expect(r.code).toBe(0);
    }
    execFileSync('bash', ['-c', '(for i in 1 2 3 4; do head -c 50000 /dev/urandom; sleep 1.3; done) > slow.dat'], { cwd: w, env: noShim });
    await pathsMirrored(['cp.dat', 'scp.dat', 'up/sftp.dat', 'slow.dat', ...(staticBin ? ['static.dat'] : [])]);
    await expectConverged(sb, 'watched', 'npx vitest run test/e2e/watch-mirror.test.ts', 180);
  }, 300_000);

  it('a rename is mirrored as the new name, and changes made while the watcher was down arrive after its restart', async () => {
    const w = join(sb.src, 'watched');
    execFileSync('bash', ['-c', 'mv cp.dat cp-renamed.dat && mv up up-renamed'], { cwd: w, env: noShim });
    await sleep(1000); // the renames reach the spool before the watcher stops; the agent carries them on meanwhile
    await stopWatcher();
    execFileSync('bash', ['-c', 'echo while-down > down.dat && rm scp.dat && mv slow.dat slow-moved.dat && mkdir -p newdir && cp down.dat newdir/'], { cwd: w, env: noShim });
    await sleep(1100); // older than stable_s: announced by the startup comparison itself
    await startWatcher();
    await pathsMirrored(['cp.dat', 'cp-renamed.dat', 'up/sftp.dat', 'up-renamed/sftp.dat', 'down.dat', 'scp.dat', 'slow.dat', 'slow-moved.dat', 'newdir/down.dat']);
    await expectConverged(sb, 'watched', 'npx vitest run test/e2e/watch-mirror.test.ts', 180);
  }, 300_000);
});
