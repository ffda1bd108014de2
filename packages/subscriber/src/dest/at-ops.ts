import { close as closeCb, constants, fstat as fstatCb, open as openCb, type BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { promisify } from 'node:util';

// Raw fds, not FileHandles: a FileHandle dropped while its fd is still in use gets closed by the GC.
const openRaw = promisify(openCb) as (path: Buffer, flags: number, mode?: number) => Promise<number>;
const closeRaw = promisify(closeCb);

/**
 * Node has no openat(). A path `/proc/self/fd/<dirfd>/<name>` resolves `<dirfd>` to the very directory
 * the fd holds (no lookup by name, so a rename or symlink swap of any ancestor cannot redirect it) and
 * then looks up one component: the same semantics as the *at() calls. Every destination change goes
 * through these helpers with a single-component name.
 */
export const O_PATH = 0o10000000;
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

export function at(dirFd: number, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${dirFd}/`), name]);
}

export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

export function errnoOf(err: unknown): string | undefined {
  const c = (err as NodeJS.ErrnoException | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** lstat of one entry; null when it does not exist. */
export async function lstatAt(dirFd: number, name: Buffer): Promise<BigIntStats | null> {
  try {
    return await fsp.lstat(at(dirFd, name), { bigint: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
}

/** Opens a subdirectory without following a symlink (ELOOP/ENOTDIR when it is not a real directory). */
export async function openDirAt(dirFd: number, name: Buffer): Promise<number> {
  return openRaw(at(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
}

/**
 * An O_PATH handle on the entry itself (never its symlink target): fstat tells what it is, and
 * chmod/chown/utimes through /proc/self/fd/<fd> then reach exactly that inode.
 */
export async function openPathAt(dirFd: number, name: Buffer): Promise<number> {
  return openRaw(at(dirFd, name), O_PATH | O_NOFOLLOW);
}

export async function mkdirAt(dirFd: number, name: Buffer, mode = 0o700): Promise<void> {
  await fsp.mkdir(at(dirFd, name), { mode });
}

export async function renameAt(fromFd: number, from: Buffer, toFd: number, to: Buffer): Promise<void> {
  await fsp.rename(at(fromFd, from), at(toFd, to));
}

/** link(2) never follows a final symlink: the new name gets the entry itself. */
export async function linkAt(fromFd: number, from: Buffer, toFd: number, to: Buffer): Promise<void> {
  await fsp.link(at(fromFd, from), at(toFd, to));
}

export async function symlinkAt(target: Buffer, dirFd: number, name: Buffer): Promise<void> {
  await fsp.symlink(target, at(dirFd, name));
}

export async function unlinkAt(dirFd: number, name: Buffer): Promise<void> {
  await fsp.unlink(at(dirFd, name));
}

export async function rmdirAt(dirFd: number, name: Buffer): Promise<void> {
  await fsp.rmdir(at(dirFd, name));
}

export async function readlinkAt(dirFd: number, name: Buffer): Promise<Buffer> {
  return fsp.readlink(at(dirFd, name), { encoding: 'buffer' });
}

/** Entry names of the directory an fd holds (no `.`/`..`). */
export async function readdirFd(dirFd: number): Promise<Buffer[]> {
  return fsp.readdir(fdPath(dirFd), { encoding: 'buffer' });
}

/** Opens a file relative to a directory fd (flags should include O_NOFOLLOW). */
export async function openAt(dirFd: number, name: Buffer, flags: number, mode?: number): Promise<number> {
  return openRaw(at(dirFd, name), flags, mode);
}

export async function openDirPath(path: Buffer | string): Promise<number> {
  return openRaw(typeof path === 'string' ? Buffer.from(path) : path, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
}

export function fstatFd(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) => fstatCb(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))));
}

export async function closeFd(fd: number | undefined): Promise<void> {
  if (fd === undefined) return;
  await closeRaw(fd).catch(() => undefined);
}
