import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

function tempNameFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/**
 * Replaces `file` so that a reader (or a restart after kill -9 or a crash) sees either the old or
 * the new content, never a mix: write a temp file beside it, fsync it, rename over, fsync the dir.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = tempNameFor(file);
  const fd = await open(tmp, 'w', mode);
  try {
    await fd.writeFile(data);
    await fd.sync();
  } catch (err) {
    await fd.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fd.close();
  await rename(tmp, file);
  await fsyncDir(dirname(file));
}
