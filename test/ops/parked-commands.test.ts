import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hpcmirror, SandboxUnderTest } from '../e2e/cli-harness.js';
import { eventually } from './cli-process.js';
import type { ParkedMessage } from '../../packages/cli/src/ops/parked-queues.js';

/**
 * `hpcmirror parked list|retry|drop` on a sandbox of real components: a change is parked because
 * its destination parent is a symlink leading out of the root (the subscriber never follows it),
 * `wait` exits 1 naming it; the operator removes the link and retries, and `wait` exits 0 with the
 * file mirrored; another one is dropped instead, and `wait` stops counting it.
 */
describe('parked messages: list, retry after the fix, drop', () => {
  const sb = new SandboxUnderTest('local');
  const outside = mkdtempSync(join(tmpdir(), 'hpcm-parked-outside-'));
  const parked = async (...args: string[]) => hpcmirror(['parked', ...args, '--sandbox', sb.dir]);
  const listJson = async (): Promise<ParkedMessage[]> => {
    const r = await parked('list', '--json');
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { parked: ParkedMessage[] }).parked;
  };

  /** A source dir made without the shim (not announced) whose destination is a link out of the root. */
  function trap(name: string): void {
    mkdirSync(join(sb.src, name));
    symlinkSync(outside, join(sb.dst, name));
  }

  beforeAll(async () => { await sb.up(); }, 300_000);
  afterAll(async () => {
    await sb.down();
    rmSync(outside, { recursive: true, force: true });
  }, 120_000);

  it('a parked change keeps wait at 1; after the cause is fixed, retry brings it through and wait exits 0', async () => {
    trap('d');
    expect(sb.shell('echo retried > d/f').code).toBe(0);
    const w1 = await sb.wait(60);
    expect(w1.code, w1.stdout + w1.stderr).toBe(1);
    expect(w1.stdout).toMatch(/^parked: seq \d+ \S*d\/f: HPM_PATH_UNSAFE/m);
    expect(w1.stdout).toContain('hpcmirror parked retry');

    const list = await listJson();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ stage: 'sub.small', attempts: 1, host: expect.any(String) });
    expect(list[0]!.path).toMatch(/d\/f$/);
    expect(list[0]!.reason).toMatch(/^HPM_PATH_UNSAFE/);
    expect(Date.now() - Date.parse(list[0]!.parkedAt!)).toBeLessThan(120_000);
    const human = await parked('list');
    expect(human.stdout).toMatch(/^sub\.small +\S+ +1 +\S*d\/f +\[/m);

    // Selection is required for changes, and a glob that matches nothing moves nothing.
    expect((await parked('retry')).code).toBe(2);
    const none = await parked('retry', '--path', '**/nothing/*');
    expect(none.stdout).toMatch(/^0 parked messages sent back/m);
    expect(await listJson()).toHaveLength(1);

    // Retried before the fix: parked again (a fresh park, attempts from 1), and wait still says so.
    const early = await parked('retry', '--all');
    expect(early.stdout).toMatch(/^1 parked message sent back/m);
    const again = await eventually(async () => {
      const l = await listJson();
      return l.length === 1 && l[0]!.parkedAt !== list[0]!.parkedAt ? l : undefined;
    }, 60_000, 'the retried message parked again');
    expect(again[0]).toMatchObject({ attempts: 1, reason: expect.stringMatching(/^HPM_PATH_UNSAFE/) });
    const wAgain = await sb.wait(60);
    expect(wAgain.code, wAgain.stdout).toBe(1);
    expect(wAgain.stdout).toMatch(/^parked: seq \d+ \S*d\/f: HPM_PATH_UNSAFE/m);

    unlinkSync(join(sb.dst, 'd')); // the operator's fix
    const r = await parked('retry', '--path', '**/d/f');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^retried: \S*d\/f \(sub\.small; was: HPM_PATH_UNSAFE/m);
    const w2 = await sb.wait(120);
    expect(w2.code, w2.stdout + w2.stderr).toBe(0);
    expect(readFileSync(join(sb.dst, 'd', 'f'), 'utf8')).toBe('retried\n');
    expect(lstatSync(join(sb.dst, 'd')).isDirectory()).toBe(true);
    expect(await listJson()).toEqual([]);
    expect(readdirSync(outside)).toEqual([]);
  }, 300_000);

  it('drop gives a parked change up: reported done (wait exits 0), one log line per path, destination untouched', async () => {
    trap('e');
    expect(sb.shell('echo dropped > e/g').code).toBe(0);
    const w1 = await sb.wait(60);
    expect(w1.code).toBe(1);
    expect(w1.stdout).toMatch(/^parked: seq \d+ \S*e\/g/m);
    const r = await parked('drop', '--path', 'g');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^dropped: \S*e\/g \(sub\.small; was: HPM_PATH_UNSAFE/m);
    const logLines = r.stderr.split('\n').filter((l) => l.includes('parked message dropped'));
    expect(logLines).toHaveLength(1);
    expect(JSON.parse(logLines[0]!)).toMatchObject({ level: 'warn', path: expect.stringMatching(/e\/g$/), seqs: [[expect.any(Number), expect.any(Number)]] });
    const w2 = await sb.wait(60);
    expect(w2.code, w2.stdout + w2.stderr).toBe(0);
    expect(await listJson()).toEqual([]);
    expect(lstatSync(join(sb.dst, 'e')).isSymbolicLink()).toBe(true);
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(outside, 'g'))).toBe(false);
  }, 300_000);
});
