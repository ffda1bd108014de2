import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { errnoCode } from './errors.js';
import { mapLimit } from './map-limit.js';
import { joinPath } from './paths.js';
import { sourceStatFromBigInt } from './source-stat.js';
import type { ChecksumAlgorithm, ListEntry, SourceStat } from './transport.js';

/*
 * Reading a source tree on this host. Shared by the local transport and the remote helper (which runs
 * on the source host). Functions throw Node system errors (with `code`); a non-regular file where one is
 * required is reported with the helper's own code ENOTREG.
 */

const LSTAT_CONCURRENCY = 32;
const HASH_CHUNK = 1024 * 1024;

export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
  constructor() {
    super('not a regular file');
  }
}

function isGone(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** lstat; null when the path does not exist. */
export async function lstatSource(path: Buffer): Promise<SourceStat | null> {
  try {
    return sourceStatFromBigInt(await lstat(path, { bigint: true }));
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  }
}

/** One listing of `dir` with each entry's lstat; entries that vanish meanwhile are left out. */
export async function listSource(dir: Buffer): Promise<ListEntry[] | null> {
  let names: Buffer[];
  try {
    names = await readdir(dir, { encoding: 'buffer' });
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  }
  const stats = await mapLimit(names, LSTAT_CONCURRENCY, (name) => lstatSource(joinPath(dir, name)));
  const entries: ListEntry[] = [];
  names.forEach((name, i) => {
    const stat = stats[i];
    if (stat) entries.push({ name, stat });
  });
  return entries;
}

export async function readlinkSource(path: Buffer): Promise<Buffer> {
  return readlink(path, { encoding: 'buffer' });
}

/**
 * Open a regular file for reading without following a final symlink and without blocking on a FIFO.
 * The caller closes the handle.
 */
export async function openRegularSource(path: Buffer): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    // ELOOP from O_NOFOLLOW means the final component is a symlink (unless a parent loops).
    if (errnoCode(err) === 'ELOOP' && (await lstatSource(path).catch(() => null))?.type === 'symlink') {
      throw new NotRegularFileError();
    }
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new NotRegularFileError();
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Checksum of a regular file's content, base64. */
export async function checksumSource(path: Buffer, algo: ChecksumAlgorithm): Promise<string> {
  const handle = await openRegularSource(path);
  try {
    const hash = createHash(algo);
    const buf = Buffer.allocUnsafe(HASH_CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
    return hash.digest('base64');
  } finally {
    await handle.close();
  }
}

/** Up to `length` bytes at `offset` of a regular file (fewer only at end of file). */
export async function readRangeSource(path: Buffer, offset: number, length: number): Promise<Buffer> {
  const handle = await openRegularSource(path);
  try {
    const buf = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await handle.read(buf, filled, length - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
