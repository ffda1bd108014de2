import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { destError, errnoCode } from './errors.js';
import { checkTempName, joinPath } from './paths.js';
import type { FetchDestination } from './transport.js';

/** The directory a fetch writes into: through its fd when the caller holds one. */
export function destDirPath(dest: FetchDestination): Buffer {
  return dest.dirFd === undefined ? dest.dirPath : Buffer.from(`/proc/self/fd/${dest.dirFd}`);
}

export function tempFilePath(dest: FetchDestination): Buffer {
  checkTempName(dest.tempName);
  return joinPath(destDirPath(dest), dest.tempName);
}

/** Create the temp file: O_EXCL (never reuse a name), O_NOFOLLOW, mode 0600 while it is being written. */
export async function createTempFile(path: Buffer): Promise<FileHandle> {
  try {
    return await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw destError(errnoCode(err), path, err);
  }
}

/** Remove a temp file this fetch created; a missing file is fine. */
export async function discardTempFile(path: Buffer): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

/** fsync a file written by someone else (libuv's copyfile, rsync). */
export async function fsyncFile(path: Buffer): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    await handle.sync();
  } catch (err) {
    throw destError(errnoCode(err), path, err);
  } finally {
    await handle?.close();
  }
}
