/**
 * The manifest of the applied state at T0: every path of the secondary when failover stopped the
 * forward flow (type, size, mtime), one line each, written as a stream (memory does not grow with
 * the tree). Failback proposes deleting a primary file only when it is listed here, is gone from the
 * secondary and is unchanged on the primary since: a delete is never inferred from absence alone.
 */
import { createReadStream, createWriteStream, renameSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { runScan } from '@hpcmirror/agent';
import { percentDecodeToBytes, percentEncodeBytes } from '@hpcmirror/core';

export interface ManifestEntry {
  relPath: Buffer;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mtimeNs: bigint;
}

/** Walks `root` with the native walker and writes the manifest to `file` (atomically); returns the entry count. */
export async function writeManifest(root: string, file: string, excludes: string[]): Promise<number> {
  const tmp = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  let entries = 0;
  await runScan({
    root,
    excludes,
    onEntry: async (e) => {
      entries++;
      const line = `${e.type}\t${e.stat.size}\t${e.stat.mtimeNs}\t${percentEncodeBytes(e.relPath, '\t\n\r')}\n`;
      if (!out.write(line)) await once(out, 'drain');
    },
  });
  out.end();
  await once(out, 'finish');
  renameSync(tmp, file);
  return entries;
}

/** The manifest's entries, one at a time. */
export async function* readManifest(file: string): AsyncGenerator<ManifestEntry> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const [type, size, mtime, path] = line.split('\t');
    yield { type: type as ManifestEntry['type'], size: Number(size), mtimeNs: BigInt(mtime!), relPath: percentDecodeToBytes(path!) };
  }
}
