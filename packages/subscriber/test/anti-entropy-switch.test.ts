import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, type Engine } from './helpers/engine.js';
import { diffTrees, snapshotTree } from './helpers/tree.js';

let e: Engine;

afterEach(async () => {
  await e?.close();
});

const converged = (): string[] => diffTrees(snapshotTree(e.src), snapshotTree(e.dst));

/** One announced file in d/, and one change in d/ that was never announced. */
async function unannouncedChange(): Promise<void> {
  mkdirSync(join(e.src, 'd'));
  writeFileSync(join(e.src, 'd/announced'), 'a');
  writeFileSync(join(e.src, 'd/never-announced'), 'n');
  await e.reconcile('d/announced');
}

describe('subscriber.anti_entropy', () => {
  it('true (default): a touched directory is compared and the unannounced change repaired', async () => {
    e = await startEngine();
    await unannouncedChange();
    expect(e.antiEntropy.stats().pending).toBeGreaterThan(0);
    await e.antiEntropy.runDue();
    expect(converged()).toEqual([]);
  });

  it('false: nothing is remembered or compared, so the unannounced change stays unrepaired', async () => {
    e = await startEngine({ antiEntropy: false });
    await unannouncedChange();
    expect(e.touched.length).toBeGreaterThan(0); // the reconciler did report touched directories
    expect(e.antiEntropy.stats().pending).toBe(0);
    e.antiEntropy.start();
    await e.antiEntropy.runDue();
    expect(e.antiEntropy.stats().checked).toBe(0);
    expect(converged()).toContain('missing: d/never-announced');
  });

  it('false: a directory rename is still applied completely (syncTree is part of applying it)', async () => {
    e = await startEngine({ antiEntropy: false });
    mkdirSync(join(e.src, 'run1/sub'), { recursive: true });
    writeFileSync(join(e.src, 'run1/sub/f'), 'x');
    await e.reconcile('run1/sub/f');
    // content that arrived inside the directory without its own announcement
    writeFileSync(join(e.src, 'run1/sub/g'), 'y');
    renameSync(join(e.src, 'run1'), join(e.src, 'run2'));
    const r = await e.rename('run1', 'run2');
    // what the message handler does before it reports the rename applied
    for (const dir of r.subtrees ?? []) await e.antiEntropy.syncTree(dir);
    expect(converged()).toEqual([]);
    expect(e.antiEntropy.stats().pending).toBe(0);
  });
});
