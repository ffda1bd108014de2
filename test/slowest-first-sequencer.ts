import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The test files that each take a minute or more, slowest first, from a CI run under load
 * (seconds in the comments). Two workers finish soonest when the long files start first:
 * vitest's own order without a results cache (as in a fresh CI checkout) is by file size,
 * which put the slowest file (demo-workload, 1.8 KB) 79th of 98 and left it running alone
 * for the last minutes. A file missing here only runs later, never less.
 */
export const SLOWEST_FILES: readonly string[] = [
  'test/e2e/demo-workload.test.ts', // 462
  'test/ops/tls-and-secrets.test.ts', // 179
  'test/e2e/convergence-cases.test.ts', // 160
  'test/e2e/convergence-fuzz.test.ts', // 155
  'test/faults/infra-faults.test.ts', // 152
  'test/faults/bad-inputs.test.ts', // 132
  'test/e2e/crash-restart.test.ts', // 123
  'test/e2e/failback-drill.test.ts', // 103
  'test/ops/sandbox-ops.test.ts', // 85
  'packages/subscriber/test/transports/rsync.test.ts', // 80
  'test/e2e/watch-mirror.test.ts', // 77
  'test/ops/parked-commands.test.ts', // 70 (quiet machine)
  'packages/agent/test/agent-broker-restart.test.ts', // 52
];

/** vitest's order, except that the files in SLOWEST_FILES go first, in that order. */
export class SlowestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rest = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const i = SLOWEST_FILES.indexOf(relative(spec.project.config.root, spec.moduleId));
      return i === -1 ? SLOWEST_FILES.length : i;
    };
    // Array.prototype.sort is stable: files not in the list keep vitest's order among themselves.
    return rest.sort((a, b) => rank(a) - rank(b));
  }
}
