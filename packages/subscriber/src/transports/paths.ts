import { TransportError, showPath } from './errors.js';

const SLASH = 0x2f;

/** `dir/name` as bytes (no normalisation beyond avoiding a double slash). */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length > 0 && dir[dir.length - 1] === SLASH) return Buffer.concat([dir, name]);
  return Buffer.concat([dir, Buffer.of(SLASH), name]);
}

/** The last component of a path with no trailing slash. */
export function baseName(path: Buffer): Buffer {
  const at = path.lastIndexOf(SLASH);
  return at < 0 ? path : path.subarray(at + 1);
}

/** Everything before the last component (`/` for a top-level entry). */
export function dirName(path: Buffer): Buffer {
  const at = path.lastIndexOf(SLASH);
  if (at < 0) return Buffer.from('.');
  if (at === 0) return Buffer.from('/');
  return path.subarray(0, at);
}

/** A source path must be absolute, free of NUL and not end in `/` (except `/` itself). */
export function checkSourcePath(path: Buffer): void {
  if (path.length === 0 || path[0] !== SLASH || path.includes(0)) {
    throw new TransportError('HPM_TRANSPORT_BAD_PATH', `source path must be absolute and free of NUL: ${showPath(path)}`, {
      path,
    });
  }
}

/** A temp name is exactly one component. */
export function checkTempName(name: Buffer): void {
  const text = name.toString('latin1');
  if (name.length === 0 || name.length > 255 || name.includes(SLASH) || name.includes(0) || text === '.' || text === '..') {
    throw new TransportError('HPM_TRANSPORT_BAD_PATH', `temp name must be one path component: ${showPath(name)}`, {
      path: name,
    });
  }
}
