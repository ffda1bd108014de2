import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import type { Reporter, TestModule } from 'vitest/node';
import { SlowestFirstSequencer } from './test/slowest-first-sequencer.js';

const root = fileURLToPath(new URL('.', import.meta.url));

/** One closing line with the counts, so CI logs and `npm test` end with the verdict. */
const countsLine: Reporter = {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors, reason) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    let failedFiles = 0;
    for (const testModule of testModules) {
      if (testModule.state() === 'failed') failedFiles++;
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else counts.skipped++;
      }
    }
    const verdict = reason === 'passed' && unhandledErrors.length === 0 ? 'PASS' : 'FAIL';
    const errors = unhandledErrors.length > 0 ? `, ${unhandledErrors.length} unhandled errors` : '';
    // The last line is the plain verdict CI reads: "word: N passed, N failed, N skipped".
    process.stdout.write(
      `\nhpcmirror tests ${verdict} in ${testModules.length} files (${failedFiles} failed)${errors}\n` +
        `tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`,
    );
  },
};

export default defineConfig({
  resolve: {
    // Tests run on sources: @hpcmirror/<pkg> is packages/<pkg>/src/index.ts, no build needed.
    alias: [{ find: /^@hpcmirror\/([a-z0-9-]+)$/, replacement: `${root}packages/$1/src/index.ts` }],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'native-shim/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Two cores: two test files at a time, each possibly with its own broker.
    maxWorkers: 2,
    fileParallelism: true,
    // The long files first, so that the last minutes are not one long file running alone.
    sequence: { sequencer: SlowestFirstSequencer },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    reporters: ['default', countsLine],
  },
});
