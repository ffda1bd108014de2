/**
 * How a scan sees a destination it cannot walk itself: one listing per directory. The subscriber's
 * RemoteHelperClient (`list`, `readlink` over ssh) has this shape, so the CLI can pass it as is;
 * localDestinationLister reads a local or mounted tree with Node's fs.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';

export interface DestinationStat {
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  /** Permission bits (mode & 0o7777); type bits are ignored. */
  mode: number;
  mtimeNs: bigint;
  uid: number;
  gid: number;
}

export interface DestinationEntry {
  name: Buffer;
  stat: DestinationStat;
}

export interface DestinationLister {
  /** lstat of every entry of an absolute directory path; null when it does not exist or is not a directory. */
  list(dir: Buffer): Promise<DestinationEntry[] | null>;
  /** Target of a symlink, verbatim. */
  readlink(path: Buffer): Promise<Buffer>;
}

function typeOf(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): DestinationStat['type'] {
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
}

const GONE = new Set(['ENOENT', 'ENOTDIR']);

export function localDestinationLister(): DestinationLister {
  return {
    async list(dir) {
      let names: Buffer[];
      try {
        names = await readdir(dir, { encoding: 'buffer' });
      } catch (err) {
        if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) return null;
        throw err;
      }
      const out: DestinationEntry[] = [];
      for (const name of names) {
        try {
          const st = await lstat(Buffer.concat([dir, Buffer.from('/'), name]), { bigint: true });
          out.push({
            name,
            stat: { type: typeOf(st), size: Number(st.size), mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs, uid: Number(st.uid), gid: Number(st.gid) },
          });
        } catch (err) {
          if (!GONE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
        }
      }
      return out;
    },
    async readlink(path) {
      return readlink(path, { encoding: 'buffer' });
    },
  };
}
