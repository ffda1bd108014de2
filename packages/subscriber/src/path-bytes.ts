import { normalizeAbsolute, splitBytes } from '@hpcmirror/core';

export { showPath } from './transports/errors.js';

const SLASH = Buffer.from('/');

/** The non-empty components of a path. */
export function components(path: Buffer): Buffer[] {
  return splitBytes(path, 0x2f).filter((c) => c.length > 0);
}

/** `root/c1/c2...`; `root` itself for no components. */
export function joinUnder(root: Buffer, parts: readonly Buffer[]): Buffer {
  if (parts.length === 0) return root;
  const base = root.length === 1 && root[0] === 0x2f ? Buffer.alloc(0) : root;
  return Buffer.concat([base, ...parts.flatMap((p) => [SLASH, p])]);
}

/** A root from config: absolute, normalised, no trailing slash (except `/`). */
export function rootBytes(root: string): Buffer {
  return normalizeAbsolute(Buffer.from(root));
}

/** A Map/Set key for path bytes (latin1 is a lossless byte <-> char mapping). */
export function pathKey(path: Buffer): string {
  return path.toString('latin1');
}

export function fromPathKey(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

export function parentOf(path: Buffer): Buffer {
  const i = path.lastIndexOf(0x2f);
  return i <= 0 ? Buffer.from('/') : path.subarray(0, i);
}
