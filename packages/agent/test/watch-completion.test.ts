import { mkdtempSync, rmSync, writeFileSync, lstatSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CompletionTracker } from '../src/watch/completion-tracker.js';

/** The stable-size rule with a fake clock and a fake /proc (which files are open for writing). */
describe('watch completion tracker', () => {
  let dir = '';
  afterEach(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  function setup(): { file: string; t: CompletionTracker; done: string[]; clock: { now: number }; open: Set<string> } {
    dir = mkdtempSync(join(tmpdir(), 'hpcm-completion-'));
    const file = join(dir, 'f');
    writeFileSync(file, 'a');
    const clock = { now: 1_000_000 };
    const open = new Set<string>();
    const done: string[] = [];
    const t = new CompletionTracker({
      stableMs: 1000, openQuietMs: 60_000, nowMs: () => clock.now,
      complete: (abs, st) => done.push(`${abs === file ? 'f' : abs} ${st.size}`),
      openWriters: (paths) => new Set([...paths].filter((p) => open.has(p))),
    });
    t.changed(file, lstatSync(file, { bigint: true }));
    return { file, t, done, clock, open };
  }

  it('announces a file nobody holds once stable, not before', () => {
    const { t, done, clock } = setup();
    clock.now += 500;
    t.sweep();
    expect(done).toEqual([]);
    clock.now += 600;
    t.sweep();
    expect(done).toEqual(['f 1']);
  });

  it('waits while a writer holds it, then gives the vanished writer\'s close-write a grace period', () => {
    const { file, t, done, clock, open } = setup();
    open.add(file);
    clock.now += 1100;
    t.sweep();
    expect(done).toEqual([]);
    appendFileSync(file, 'bc');
    t.changed(file, lstatSync(file, { bigint: true }));
    open.delete(file); // the writer left /proc's fd list; its close-write is on its way
    clock.now += 1100;
    t.sweep();
    expect(done).toEqual([]);
    clock.now += 1100;
    t.sweep(); // no close-write came (a lost event): the stable rule announces it after all
    expect(done).toEqual(['f 3']);
  });

  it('a close-write in the grace period takes over', () => {
    const { file, t, done, clock, open } = setup();
    open.add(file);
    clock.now += 1100;
    t.sweep();
    open.delete(file);
    clock.now += 1100;
    t.sweep();
    t.forget(file); // the close-write announced it
    clock.now += 5000;
    t.sweep();
    expect(done).toEqual([]);
  });
});
