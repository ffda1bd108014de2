import { describe, expect, it } from 'vitest';
import { pathGlobCases } from '../../../test/fixtures/path-globs.js';
import { AcceptRejectFilter } from '../src/index.js';

// The same table runs against the shim's C filter in native-shim/test/glob-conformance.test.ts.
describe('accept/reject globs: the shared table (test/fixtures/path-globs.json)', () => {
  it.each(pathGlobCases().map((c) => [c.label, c] as const))('%s', (_label, c) => {
    expect(new AcceptRejectFilter(c.accept, c.reject).accepts(c.path)).toBe(c.taken);
  });
});
