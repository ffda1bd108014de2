import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, HpcmError, describeError, isHpcmError, renderErrorsDoc } from '../src/index.js';

describe('errors', () => {
  it('docs/errors.md lists every core code with its summary (the whole file: packages/cli/test/errors-doc.test.ts)', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const rendered = renderErrorsDoc();
    for (const [code, s] of Object.entries(ERROR_CODES)) {
      const row = `| \`${code}\` | ${s.summary} | ${s.retryable ? 'yes' : 'no'} | ${s.exitCode} |`;
      expect(rendered).toContain(row);
      expect(doc).toContain(row);
    }
  });

  it('codes follow HPM_<AREA>_<WHAT>', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^HPM_[A-Z]+(_[A-Z]+)*$/);
  });

  it('carries code, retryable, exit status and cause', () => {
    const cause = new Error('ECONNREFUSED');
    const e = new HpcmError('HPM_BROKER_UNREACHABLE', 'no broker at 127.0.0.1:5672', { cause });
    expect(e.retryable).toBe(true);
    expect(e.exitCode).toBe(1);
    expect(e.cause).toBe(cause);
    expect(isHpcmError(e, 'HPM_BROKER_UNREACHABLE')).toBe(true);
    expect(describeError(e)).toBe('HPM_BROKER_UNREACHABLE: no broker at 127.0.0.1:5672');
  });
});
