import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScan } from '../src/scan/index.js';
import { buildWalker, scratchDir } from './scan-fixtures.js';

let scratch: ReturnType<typeof scratchDir>;
beforeAll(() => {
  buildWalker();
  scratch = scratchDir('hpcm-scan-mem-');
});
afterAll(() => scratch.cleanup());

/** Files are hard links of one seed: a link costs one syscall and no inode, so 50k are quick to make. */
function tree(root: string, dirs: number, filesPerDir: number): number {
  mkdirSync(root, { recursive: true });
  const seed = join(root, 'seed');
  writeFileSync(seed, '');
  for (let d = 0; d < dirs; d++) {
    const dir = join(root, `g${d % 10}`, `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < filesPerDir; f++) linkSync(seed, join(dir, `file-${f}`));
  }
  return dirs * filesPerDir + dirs + Math.min(dirs, 10) + 1;
}

async function countAll(root: string, extra: { queueMemItems?: number } = {}): Promise<{ seen: number; rss: number; examined: number }> {
  let seen = 0;
  const r = await runScan({ root, threads: 2, onEntry: () => void seen++, ...extra });
  return { seen, rss: r.maxRssBytes, examined: r.examined };
}

describe('scan memory', () => {
  it('stays flat from 5,000 to 50,000 files', async () => {
    const small = join(scratch.dir, 'small');
    const big = join(scratch.dir, 'big');
    const nSmall = tree(small, 25, 200);
    const nBig = tree(big, 250, 200);
    const s = await countAll(small);
    const l = await countAll(big);
    expect(s.seen).toBe(nSmall);
    expect(l.seen).toBe(nBig);
    expect(l.examined).toBe(nBig);
    expect(l.rss).toBeLessThan(32 << 20);
    // Ten times the tree, not ten times the memory: at most a few MB more.
    expect(l.rss - s.rss).toBeLessThan(4 << 20);
  }, 180_000); // 55,000 links and two walks: about 20 s when the machine is shared

  it('spills the directory queue to disk above its bound and still walks everything', async () => {
    const root = join(scratch.dir, 'wide');
    for (let d = 0; d < 300; d++) mkdirSync(join(root, `w${d}`, 'x'), { recursive: true });
    const r = await countAll(root, { queueMemItems: 4 });
    expect(r.seen).toBe(600);
  });
});
