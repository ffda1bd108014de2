/** Shared by the scan*.test.ts files: builds the walker once, makes trees, collects a scan. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScan, type RunScanOptions, type ScanEntry, type ScanIssue, type ScanResult } from '../src/scan/index.js';

export const NATIVE_SCAN_DIR = fileURLToPath(new URL('../../../native-scan', import.meta.url));

export function buildWalker(): void {
  execFileSync('make', ['-s', '-C', NATIVE_SCAN_DIR], { stdio: 'inherit' });
}

/** A scratch directory others may traverse (the unreadable-dir test runs the walker as nobody). */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return {
    dir,
    cleanup: () => {
      // chmod back what a test locked; rm copes with paths beyond PATH_MAX, rmSync does not.
      execFileSync('chmod', ['-R', 'u+rwx', dir]);
      execFileSync('rm', ['-rf', dir]);
    },
  };
}

export interface Collected {
  entries: ScanEntry[];
  issues: ScanIssue[];
  result: ScanResult;
}

export async function collect(options: Omit<RunScanOptions, 'onEntry' | 'onIssue'>): Promise<Collected> {
  const entries: ScanEntry[] = [];
  const issues: ScanIssue[] = [];
  const result = await runScan({ ...options, onEntry: (e) => void entries.push(e), onIssue: (i) => void issues.push(i) });
  return { entries, issues, result };
}

/** Paths are bytes; latin1 maps each byte to one char, so it is a faithful key. */
export const key = (b: Buffer): string => b.toString('latin1');

export function byPath(entries: ScanEntry[]): Map<string, ScanEntry> {
  return new Map(entries.map((e) => [key(e.relPath), e]));
}
