/**
 * The primary on another cluster, written over SFTP with the forward subscribers' ssh credentials.
 * Paths are checked as the local writer checks them; every parent inside the root is lstat'ed over
 * SFTP and must be a directory (a symlink is never followed out of the root); link, unlink and rmdir
 * act on the name itself, never through a final symlink.
 */
import { randomBytes } from 'node:crypto';
import { HpcmError } from '@hpcmirror/core';
import { isTransportError, type SftpSession } from '@hpcmirror/subscriber';
import type { StepLog } from '../step-journal.js';
import { conflictName, type PrimaryWriter } from '../primary-writer.js';
import { conflictTempName, parentsOf, checkedRel, stillAsPlanned, symlinkParentError, underRoot } from './primary-paths.js';

const codeOf = (err: unknown): string => (isTransportError(err) ? err.code : '');

export function sftpPrimaryWriter(session: SftpSession, root: string, log: StepLog): PrimaryWriter {
  const rootB = Buffer.from(root.replace(/\/+$/, ''));
  const abs = (rel: Buffer): Buffer => underRoot(rootB, rel);
  const where = `${session.label}:${root}`;
  let saidHowCopied = false;

  /** Every parent of rel is a directory (not a symlink); false when one is gone. */
  const parentsAreDirs = async (rel: Buffer): Promise<boolean> => {
    for (const parent of parentsOf(checkedRel(rel))) {
      const st = await session.lstat(abs(parent));
      if (!st) return false;
      if (st.type !== 'dir') throw symlinkParentError(rel, parent);
    }
    return true;
  };

  const copyConflict = async (rel: Buffer, name: Buffer, why: string): Promise<void> => {
    const tmp = conflictTempName(name);
    const from = abs(rel);
    const st = await session.lstat(from);
    if (st?.type !== 'file') throw new HpcmError('HPM_PATH_UNSAFE', `${rel.toString()}: not a regular file on the primary: no conflict copy made`);
    if (await session.lstat(abs(tmp))) await session.unlink(abs(tmp)); // an interrupted copy's leftover
    const how = await session.copy(from, abs(tmp));
    await session.rename(abs(tmp), abs(name));
    if (!saidHowCopied) {
      saidHowCopied = true;
      log.info(`${where}: ${why}: conflict copies are real copies, ${how === 'server' ? 'made on the server (copy-data)' : 'read and written back through this connection (the server does not offer copy-data either)'}`);
    }
  };

  return {
    kind: 'sftp',
    async probeWritable() {
      const probe = Buffer.concat([rootB, Buffer.from(`/.hpcm.${randomBytes(8).toString('hex')}`)]);
      try {
        const st = await session.lstat(rootB);
        if (st?.type !== 'dir') throw new Error(st ? 'not a directory' : 'no such directory');
        await session.createExclusive(probe, 0o600);
        await session.unlink(probe);
      } catch (err) {
        throw new HpcmError('HPM_FAILBACK_PRIMARY_DOWN', `${where}: the primary is not reachable and writable over SFTP (${(err as Error).message})`, { cause: err });
      }
    },
    async keepConflict(rel, stamp) {
      const name = conflictName(rel, stamp);
      if (!(await parentsAreDirs(rel))) throw new HpcmError('HPM_PATH_UNSAFE', `${rel.toString()}: a parent directory is gone from the primary`);
      if (await session.lstat(abs(name))) return name; // kept by an earlier, interrupted run
      if (!session.offers('hardlink@openssh.com')) {
        await copyConflict(rel, name, 'the server does not offer hardlink@openssh.com');
        return name;
      }
      try {
        await session.hardlink(abs(rel), abs(name));
      } catch (err) {
        // A file system without hard links answers "permission denied" or "failure".
        if (!['HPM_TRANSPORT_SOURCE_ACCESS', 'HPM_TRANSPORT_REMOTE_IO'].includes(codeOf(err))) throw err;
        if (await session.lstat(abs(name))) return name;
        await copyConflict(rel, name, `a hard link was refused (${(err as Error).message})`);
      }
      return name;
    },
    async remove(rel, planned) {
      if (!(await parentsAreDirs(rel))) return 'gone';
      const path = abs(rel);
      const st = await session.lstat(path);
      if (!st) return 'gone';
      if (!stillAsPlanned(st, planned)) return 'changed';
      try {
        if (planned.type === 'dir') await session.rmdir(path);
        else await session.unlink(path);
        return 'removed';
      } catch (err) {
        if (codeOf(err) === 'HPM_TRANSPORT_SOURCE_GONE') return 'gone';
        // OpenSSH answers a plain "failure" for a directory that is not empty.
        if (planned.type === 'dir' && codeOf(err) === 'HPM_TRANSPORT_REMOTE_IO' && (await session.lstat(path))?.type === 'dir') return 'not-empty';
        throw err;
      }
    },
    close: () => session.close(),
  };
}
