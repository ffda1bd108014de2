import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ScanError } from './scan-errors.js';

/**
 * native-scan/build/hpcm-scan of this checkout: src/scan and dist/scan sit at the same depth, so one
 * relative path serves both. HPCM_SCAN_BIN overrides it (installed elsewhere).
 */
export function defaultScanBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.HPCM_SCAN_BIN || fileURLToPath(new URL('../../../../native-scan/build/hpcm-scan', import.meta.url));
}

export function checkScanBinary(path: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch (err) {
    throw new ScanError('HPM_SCAN_BINARY_MISSING', `scan walker ${path} is missing or not executable (build it: make -C native-scan)`, {
      cause: err,
    });
  }
}
