import { lstatSync, mkdirSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { isSubscriberError } from '../src/errors.js';
import { createLocalTransport } from '../src/transports/index.js';
import type { Transport } from '../src/transports/transport.js';
import { startEngine, type Engine } from './helpers/engine.js';
import { diffTrees, snapshotTree } from './helpers/tree.js';

/** d1/l1 -> f0 mirrored, then on the source only: `mv d1 d3; mkdir d1` (the destination still has d1/l1). */
async function mirroredThenMovedAside(eng: Engine): Promise<void> {
  mkdirSync(join(eng.src, 'd1'));
  symlinkSync('f0', join(eng.src, 'd1/l1'));
  for (const p of ['d1', 'd1/l1']) await eng.reconcile(p);
  renameSync(join(eng.src, 'd1'), join(eng.src, 'd3'));
  mkdirSync(join(eng.src, 'd1'));
}

/**
 * The directory rename of "another worker", without the path locks: with them it cannot run while a
 * worker below holds the directory (path-locks.ts), so these tests prove the second line of defence,
 * the reconciler's own checks, as if the locks had a hole.
 */
function renameUnlocked(eng: Engine, from: string, to: string) {
  return eng.reconciler.rename(eng.s(from), eng.s(to));
}

let e: Engine | undefined;

afterEach(async () => {
  await e?.close();
  e = undefined;
});

/**
 * A remove reconciles "absent on the source" against whatever directory the destination walk finds
 * *later*. The worker holding d1/l1 saw the source without it; before it opened the destination
 * directory, `mv -T d3 d1` (d3 holding l1) happened on the source and its rename message moved the
 * destination directory over (another worker: path locks d1 and d3, not d1/l1) and compared the
 * subtree, which matched. The stale remove then took l1 out of the moved directory and counted as
 * applied: `wait` said done with d1/l1 missing until anti-entropy came by (seen once in
 * test/e2e/crash-restart.test.ts, winnow seed 7202).
 */
it('a remove decided before a directory rename brought the path back does not delete the moved-in entry', async () => {
  const local = createLocalTransport();
  let interleave: (() => Promise<void>) | undefined;
  const racing: Transport = {
    name: 'local', features: local.features,
    start: () => local.start(), stop: () => local.stop(),
    readlink: (p) => local.readlink(p), list: (d) => local.list(d), fetch: (s, d, o) => local.fetch(s, d, o),
    stat: async (paths) => {
      const r = await local.stat(paths);
      // The remover's look at the source parents (after its stat of d1/l1 found nothing): the other worker runs now.
      const other = paths.length === 2 && paths[1]!.toString().endsWith('/d1') ? interleave : undefined;
      if (other) {
        interleave = undefined;
        await other();
      }
      return r;
    },
  };
  const eng = await startEngine({ transport: racing });
  e = eng;
  mkdirSync(join(eng.src, 'd1'));
  mkdirSync(join(eng.src, 'd3'));
  symlinkSync('f0', join(eng.src, 'd3/l1'));
  for (const p of ['d1', 'd3', 'd3/l1']) await eng.reconcile(p);

  interleave = async () => {
    renameSync(join(eng.src, 'd3'), join(eng.src, 'd1'));
    const r = await renameUnlocked(eng, 'd3', 'd1');
    for (const dir of r.subtrees ?? []) await eng.antiEntropy.syncTree(dir);
    // The rename message is applied correctly: its subtree matches, l1 included.
    expect(readlinkSync(eng.d('d1/l1'))).toBe('f0');
  };
  const r = await eng.reconcile('d1/l1');
  expect(interleave).toBeUndefined();

  expect(lstatSync(eng.d('d1/l1'), { throwIfNoEntry: false })?.isSymbolicLink()).toBe(true);
  expect(readlinkSync(eng.d('d1/l1'))).toBe('f0');
  expect(r.type).toBe('symlink');
  expect(diffTrees(snapshotTree(eng.src), snapshotTree(eng.dst))).toEqual([]);
});

/**
 * The same race for a write: the worker holding d1/l1 read the source (a new d1 with its own l1)
 * and opened the destination d1, which a rename message (`mv d1 d3` on the source) then moved to d3
 * and compared. Written through the old fd, the new l1 landed in d3 over the correct copy, where no
 * later message looks. It must notice that its directory is no longer d1 and write nothing there.
 */
it('a write whose destination directory was renamed away meanwhile does not land under the new name', async () => {
  const local = createLocalTransport();
  let interleave: (() => Promise<void>) | undefined;
  const racing: Transport = {
    name: 'local', features: local.features,
    start: () => local.start(), stop: () => local.stop(), stat: (p) => local.stat(p),
    list: (d) => local.list(d), fetch: (s, d, o) => local.fetch(s, d, o),
    readlink: async (p) => {
      const other = interleave;
      interleave = undefined;
      // The writer reads the link target after it opened the destination directory: the other worker runs now.
      if (other) await other();
      return local.readlink(p);
    },
  };
  const eng = await startEngine({ transport: racing });
  e = eng;
  await mirroredThenMovedAside(eng);
  symlinkSync('f2', join(eng.src, 'd1/l1'));

  let subtrees: Buffer[] = [];
  interleave = async () => {
    const r = await renameUnlocked(eng, 'd1', 'd3');
    subtrees = r.subtrees ?? [];
    // d3's compare runs now; d1's waits for the writer's path lock (d1/l1), so it runs after it.
    for (const dir of subtrees.filter((s) => s.toString().endsWith('/d3'))) await eng.antiEntropy.syncTree(dir);
    expect(readlinkSync(eng.d('d3/l1'))).toBe('f0');
  };
  const first = await eng.reconcile('d1/l1').catch((err: unknown) => err);
  expect(interleave).toBeUndefined();
  for (const dir of subtrees.filter((s) => s.toString().endsWith('/d1'))) await eng.antiEntropy.syncTree(dir);
  // Moved under it: retried (the message goes round again), never written under the other name.
  expect(isSubscriberError(first, 'HPM_SUB_DEST_MOVED')).toBe(true);
  expect((first as { retryable: boolean }).retryable).toBe(true);
  await eng.reconcile('d1/l1');

  expect(readlinkSync(eng.d('d3/l1'))).toBe('f0');
  expect(readlinkSync(eng.d('d1/l1'))).toBe('f2');
  expect(diffTrees(snapshotTree(eng.src), snapshotTree(eng.dst))).toEqual([]);
});

/**
 * And a remove through a directory renamed away: the source has no d1/l1 (`mv d1 d3; mkdir d1`), but
 * the destination d1 the worker opened is the old one, moved to d3 meanwhile, where l1 belongs.
 */
it('a remove whose destination directory was renamed away meanwhile does not delete under the new name', async () => {
  const eng = await startEngine();
  e = eng;
  await mirroredThenMovedAside(eng);

  const openDir = eng.tree.openDir.bind(eng.tree);
  let subtrees: Buffer[] = [];
  let interleave: (() => Promise<void>) | undefined = async () => {
    const r = await renameUnlocked(eng, 'd1', 'd3');
    subtrees = r.subtrees ?? [];
    for (const dir of subtrees) await eng.antiEntropy.syncTree(dir);
    expect(readlinkSync(eng.d('d3/l1'))).toBe('f0');
  };
  eng.tree.openDir = async (...args) => {
    const dir = await openDir(...args);
    const other = args[0].length === 1 && args[0][0]!.toString() === 'd1' ? interleave : undefined;
    if (other) {
      interleave = undefined;
      await other();
    }
    return dir;
  };
  const first = await eng.reconcile('d1/l1').catch((err: unknown) => err);
  expect(interleave).toBeUndefined();
  expect(isSubscriberError(first, 'HPM_SUB_DEST_MOVED')).toBe(true);
  eng.tree.openDir = openDir;
  expect((await eng.reconcile('d1/l1')).outcome).toBe('unchanged');

  expect(readlinkSync(eng.d('d3/l1'))).toBe('f0');
  expect(diffTrees(snapshotTree(eng.src), snapshotTree(eng.dst))).toEqual([]);
});
