/**
 * What both primary writers check before writing: a relative path is plain (no '..', '.', empty
 * component, NUL or leading '/'), so root + path never leaves the root; and a path about to be
 * deleted is still what the manifest recorded.
 */
import { createHash } from 'node:crypto';
import { HpcmError } from '@hpcmirror/core';
import { MTIME_PRECISION_NS, TEMP_PREFIX, type SourceStat } from '@hpcmirror/subscriber';
import type { PlannedRemoval } from '../primary-writer.js';

export function checkedRel(rel: Buffer): Buffer {
  const parts = rel.toString('latin1').split('/');
  if (rel.length === 0 || rel.includes(0) || rel[0] === 0x2f || parts.some((p) => p === '..' || p === '.' || p === '')) {
    throw new HpcmError('HPM_PATH_UNSAFE', `${rel.toString()}: not a plain relative path`);
  }
  return rel;
}

/** `root/rel`, rel checked. */
export function underRoot(root: Buffer, rel: Buffer): Buffer {
  return Buffer.concat([root, Buffer.from('/'), checkedRel(rel)]);
}

/** The parents of rel inside the root, shallowest first (`a`, `a/b` for `a/b/c`). */
export function parentsOf(rel: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = rel.indexOf(0x2f); at > 0; at = rel.indexOf(0x2f, at + 1)) out.push(rel.subarray(0, at));
  return out;
}

export function symlinkParentError(rel: Buffer, parent: Buffer): HpcmError {
  return new HpcmError('HPM_PATH_UNSAFE', `${rel.toString()}: ${parent.toString()} is not a directory (a symlink?): not followed`);
}

/**
 * The temp name a conflict copy is made under before it is renamed into place: one per conflict
 * name (a re-run after an interruption finds and replaces its own leftover), in the subscriber's
 * temp-name form so audits and scans ignore it.
 */
export function conflictTempName(name: Buffer): Buffer {
  const dirEnd = name.lastIndexOf(0x2f);
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return Buffer.concat([name.subarray(0, dirEnd + 1), Buffer.from(`${TEMP_PREFIX}${hash}`)]);
}

/** Same type, and for a non-directory the same size and mtime (to whole seconds where the stat has no more). */
export function stillAsPlanned(st: Pick<SourceStat, 'type' | 'size' | 'mtimeNs' | 'nsPrecision'>, planned: PlannedRemoval): boolean {
  if (st.type !== planned.type) return false;
  if (planned.type === 'dir') return true;
  if (st.size !== planned.size) return false;
  if (!st.nsPrecision) return st.mtimeNs / 1_000_000_000n === planned.mtimeNs / 1_000_000_000n;
  const d = st.mtimeNs > planned.mtimeNs ? st.mtimeNs - planned.mtimeNs : planned.mtimeNs - st.mtimeNs;
  return d <= BigInt(MTIME_PRECISION_NS);
}
