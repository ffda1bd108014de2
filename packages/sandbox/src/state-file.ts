import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { SandboxError } from './errors.js';

/** Writes JSON through a temporary name and a rename, so a reader never sees half a file. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Reads a JSON state file; undefined when absent, a SandboxError when unreadable or not JSON. */
export function readJsonFile<T>(path: string, field?: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SandboxError(field, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new SandboxError(field, `${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}
