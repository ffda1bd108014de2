import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLES, renderAllErrorsDoc } from '../src/errors-doc.js';

describe('docs/errors.md', () => {
  it('matches every package\'s error table (run `npm run docs:errors` after adding a code)', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    expect(doc).toBe(renderAllErrorsDoc());
  });

  it('codes are unique across packages and follow HPM_<AREA>_<WHAT>', () => {
    const codes = ERROR_TABLES.flatMap((t) => Object.keys(t.codes));
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^HPM_[A-Z]+(_[A-Z]+)*$/);
  });
});
