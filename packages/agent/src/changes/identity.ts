import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { V03Identity } from '@hpcmirror/core';

export type IdentityMethod = 'cod' | 'sha512' | 'md5';

/** `cod`: checksum on download; the publisher never reads the file (the default). */
export const COD_IDENTITY: V03Identity = { method: 'cod', value: 'sha512' };

/** The base64 digest of bytes already read (the encoding hashFile gives too). */
export function hashBytes(bytes: Buffer, method: 'sha512' | 'md5'): string {
  return createHash(method).update(bytes).digest('base64');
}

/** Reads the file (not following a symlink) and returns its base64 digest, or undefined if it cannot. */
export async function hashFile(path: Buffer, method: 'sha512' | 'md5'): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const hash = createHash(method);
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
    return hash.digest('base64');
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}
