// What the SFTP benches share: the source files they copy and the plain `sftp -b` baseline's arguments.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes each name in `dir` as `bytes` random bytes (one 4 MiB random block repeated: cheap to make). */
export function writeLargeFiles(dir, names, bytes) {
  const chunk = randomBytes(4 << 20);
  for (const name of names) {
    const parts = [];
    for (let left = bytes; left > 0; left -= chunk.length) parts.push(left >= chunk.length ? chunk : chunk.subarray(0, left));
    writeFileSync(join(dir, name), Buffer.concat(parts));
  }
}

/** `sftp -b -` arguments that reach the sandbox's sshd as its own ssh arguments do (sftp spells -p as -P). */
export function sftpBatchArgs(sshd) {
  return ['-b', '-', '-q', '-F', 'none', ...sshd.sshArgs.slice(2).map(String).map((a) => (a === '-p' ? '-P' : a)), `${sshd.user}@${sshd.host}`];
}
