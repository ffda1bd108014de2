import type { SFTPWrapper, Stats } from 'ssh2';
import { TransportError, showPath } from '../errors.js';
import { fileTypeOfMode } from '../source-stat.js';
import type { ListEntry, SourceStat } from '../transport.js';
import { sftpError } from './sftp-errors.js';

/*
 * Metadata through SFTP itself, for a source host without the helper: whole-second times, no inode,
 * no ctime, and only paths that are valid UTF-8 (ssh2 sends paths as text).
 */

export function sftpPathText(path: Buffer): string {
  const text = path.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(path)) {
    throw new TransportError('HPM_TRANSPORT_BAD_PATH', `${showPath(path)}: not UTF-8; needs the remote helper`, { path });
  }
  return text;
}

export function isUtf8Path(path: Buffer): boolean {
  return Buffer.from(path.toString('utf8'), 'utf8').equals(path);
}

export function sourceStatFromSftp(attrs: Stats): SourceStat {
  return {
    type: fileTypeOfMode(attrs.mode),
    size: attrs.size,
    mode: attrs.mode & 0o7777,
    mtimeNs: BigInt(attrs.mtime) * 1_000_000_000n,
    ctimeNs: 0n,
    ino: 0n,
    dev: 0n,
    nlink: 1,
    uid: attrs.uid,
    gid: attrs.gid,
    nsPrecision: false,
  };
}

const NO_SUCH_FILE = 2;

export function sftpLstat(sftp: SFTPWrapper, path: Buffer): Promise<SourceStat | null> {
  const text = sftpPathText(path);
  return new Promise((resolve, reject) => {
    sftp.lstat(text, (err, attrs) => {
      if (!err) resolve(sourceStatFromSftp(attrs));
      else if ((err as { code?: unknown }).code === NO_SUCH_FILE) resolve(null);
      else reject(sftpError(err, path, 'lstat', true));
    });
  });
}

export function sftpList(sftp: SFTPWrapper, dir: Buffer): Promise<ListEntry[] | null> {
  const text = sftpPathText(dir);
  return new Promise((resolve, reject) => {
    sftp.readdir(text, (err, list) => {
      if (!err) {
        resolve(
          list
            .filter((e) => e.filename !== '.' && e.filename !== '..')
            .map((e) => ({ name: Buffer.from(e.filename, 'utf8'), stat: sourceStatFromSftp(e.attrs as Stats) })),
        );
      } else if ((err as { code?: unknown }).code === NO_SUCH_FILE) resolve(null);
      // OpenSSH answers FAILURE for "not a directory".
      else if ((err as { code?: unknown }).code === 4) resolve(null);
      else reject(sftpError(err, dir, 'list', true));
    });
  });
}

export function sftpReadlink(sftp: SFTPWrapper, path: Buffer): Promise<Buffer> {
  const text = sftpPathText(path);
  return new Promise((resolve, reject) => {
    sftp.readlink(text, (err, target) => {
      if (err) reject(sftpError(err, path, 'readlink', true));
      else resolve(Buffer.from(target, 'utf8'));
    });
  });
}
