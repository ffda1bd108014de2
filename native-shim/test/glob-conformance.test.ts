/**
 * The shim's accept/reject filter against the shared table (test/fixtures/path-globs.json), which
 * packages/core/test/glob-conformance.test.ts runs against the TypeScript filter: the shim and the
 * agent must agree on every path, or events are lost or wrongly announced.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pathGlobCases } from '../../test/fixtures/path-globs.js';
import { buildShim, compileProg, makeSandbox, rel, run, runBoth, SHIM_DIR, type Sandbox } from './helpers/shim-harness.js';

let sb: Sandbox;
let driver: string;

beforeAll(async () => {
  buildShim();
  sb = makeSandbox('globs');
  const bin = join(sb.base, 'bin');
  mkdirSync(bin);
  driver = await compileProg(bin, 'glob-table', 'glob-table', [
    join(SHIM_DIR, 'src', 'glob-match.c'), '-D_GNU_SOURCE', '-std=gnu11', '-Wall', '-Wextra', '-Werror',
  ]);
});

afterAll(() => sb?.cleanup());

const field = (patterns: Buffer[]): string => (patterns.length ? patterns.map((p) => p.toString('hex')).join(',') : '-');

describe('the shim filter (src/glob-match.c) and the shared glob table', () => {
  it('takes exactly the paths the table says, for every case', async () => {
    const cases = pathGlobCases();
    const input = cases.map((c) => `${field(c.accept)} ${field(c.reject)} ${c.path.toString('hex')}\n`).join('');
    const res = await run(driver, [], { input });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const got = res.stdout.trim().split('\n');
    expect(got).toHaveLength(cases.length);
    const wrong = cases.filter((c, i) => (got[i] === '1') !== c.taken).map((c) => c.label);
    expect(wrong).toEqual([]);
  });

  it('the preloaded shim honours HPCM_ACCEPT (reject wins) as the table does', async () => {
    const script = 'mkdir d && echo x > d/a.grib && echo x > d/bad.grib && echo x > d/a.txt && echo x > d/b.tmp';
    const { plain, shimmed, records } = await runBoth(sb, 'bash', ['-c', script], {
      env: { HPCM_ACCEPT: '*.grib:/**/d', HPCM_REJECT: '*.tmp:bad*' },
    });
    expect(shimmed.status).toBe(plain.status);
    const paths = [...new Set(records.filter((r) => r.op !== 'EXIT').map((r) => rel(sb, r.path)))].sort();
    expect(paths).toEqual(['d', 'd/a.grib']);
  });
});
