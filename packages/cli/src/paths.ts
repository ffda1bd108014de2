import { resolve } from 'node:path';
import { HpcmError } from '@hpcmirror/core';

/** A path given on the command line, relative to the mirror root (as bytes); refuses one outside it. */
export function relativeTo(root: string, p: string): Buffer {
  const abs = resolve(p);
  const r = resolve(root);
  if (abs === r) return Buffer.alloc(0);
  if (!abs.startsWith(`${r}/`)) throw new HpcmError('HPM_PATH_OUTSIDE_ROOT', `${p}: not under source_root ${r}`);
  return Buffer.from(abs.slice(r.length + 1));
}
