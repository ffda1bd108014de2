import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeKey, encodeKey, isScanError, runScan, type ScanEntry, type ScanProgress } from '../src/scan/index.js';
import { buildWalker, collect, key, scratchDir } from './scan-fixtures.js';

let scratch: ReturnType<typeof scratchDir>;
beforeAll(() => {
  buildWalker();
  scratch = scratchDir('hpcm-scan-ckpt-');
});
afterAll(() => scratch.cleanup());

/** 8 top-level parts of 2 x 40 files, plus files in the root (the root's own part). */
function partsTree(root: string): number {
  let n = 0;
  for (let t = 0; t < 8; t++) {
    for (let s = 0; s < 2; s++) {
      const dir = join(root, `top${t}`, `sub${s}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 40; f++) writeFileSync(join(dir, `f${f}`), '');
    }
    n += 1 + 2 + 80;
  }
  writeFileSync(join(root, 'rootfile'), '');
  return n + 1;
}

function journalParts(file: string): string[] {
  return readFileSync(file, 'latin1')
    .split('\n')
    .filter((l) => l.startsWith('P '))
    .map((l) => key(decodeKey(l.split(' ')[2]!)));
}

describe('scan checkpoint', () => {
  it('encodes part keys as one safe word', () => {
    const odd = Buffer.from([0x61, 0x20, 0x25, 0x0a, 0xff]);
    expect(encodeKey(odd)).toBe('a%20%25%0A%FF');
    expect(decodeKey(encodeKey(odd))).toEqual(odd);
    expect(encodeKey(Buffer.alloc(0))).toBe('.');
  });

  it('resumes an interrupted scan, skipping the parts it finished, and gives an ETA next time', async () => {
    const root = join(scratch.dir, 'tree');
    const total = partsTree(root);
    const checkpointFile = join(scratch.dir, 'scan.ckpt');
    const common = { root, checkpointFile, partDepth: 1, threads: 1, outputBlockBytes: 4096 };

    const first: ScanEntry[] = [];
    const stop = new AbortController();
    const err = await runScan({
      ...common,
      signal: stop.signal,
      onEntry: async (e) => {
        first.push(e);
        if (first.length === 300) stop.abort();
        await new Promise((r) => setImmediate(r)); // like waiting for a publish confirm
      },
    }).catch((e: unknown) => e);
    expect(isScanError(err, 'HPM_SCAN_ABORTED')).toBe(true);
    const done = journalParts(checkpointFile);
    expect(done.length).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(9);

    const second = await collect({ ...common });
    expect(second.result.resumed).toBe(true);
    expect(second.result.skippedParts).toBe(done.length);
    const inDonePart = (e: ScanEntry): boolean => {
      const top = key(e.relPath).split('/')[0]!;
      return e.relPath.includes(0x2f) ? done.includes(top) : done.includes('');
    };
    // Nothing of a finished part is scanned again; everything else is.
    expect(second.entries.filter(inDonePart)).toEqual([]);
    const seen = new Set([...first.filter(inDonePart), ...second.entries].map((e) => key(e.relPath)));
    expect(seen.size).toBe(total);
    expect(second.result.examinedTotal).toBe(total);
    expect(readFileSync(checkpointFile, 'latin1')).toMatch(new RegExp(`\\nE ${total} `));

    // A finished journal starts afresh, and its total gives the ETA.
    const progress: ScanProgress[] = [];
    const third = await runScan({ ...common, progressIntervalMs: 1, onProgress: (p) => void progress.push(p) });
    expect(third).toMatchObject({ resumed: false, skippedParts: 0, examined: total });
    expect(progress.at(-1)).toMatchObject({ expectedTotal: total, fraction: 1, etaMs: 0 });
  });

  it('starts afresh when the journal belongs to another scan', async () => {
    const root = join(scratch.dir, 'other');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a/f'), '');
    const checkpointFile = join(scratch.dir, 'other.ckpt');
    writeFileSync(checkpointFile, `HPCM-SCAN-CHECKPOINT 1 ${JSON.stringify({ root: '/elsewhere', mode: 'list', partDepth: 2, excludes: [] })}\nP 5 a\nP 3 .\nP 1 torn-no-newline`);
    const r = await collect({ root, checkpointFile });
    expect(r.result.resumed).toBe(false);
    expect(r.entries).toHaveLength(2);
  });
});
