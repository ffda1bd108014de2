/*
 * Paths on the helper's wire: every byte outside 0x21..0x7E, and `%` itself, is written as %XX
 * (uppercase hex); everything else as itself. So an encoded path is non-empty printable ASCII without
 * spaces, and any byte sequence (newline, non-UTF-8) round-trips exactly.
 */

const PERCENT = 0x25;
const HEX = '0123456789ABCDEF';

export function encodePath(path: Buffer): string {
  let out = '';
  let plainFrom = 0;
  for (let i = 0; i < path.length; i++) {
    const byte = path[i] as number;
    if (byte > 0x20 && byte < 0x7f && byte !== PERCENT) continue;
    if (i > plainFrom) out += path.toString('latin1', plainFrom, i);
    out += '%' + HEX[byte >> 4] + HEX[byte & 15];
    plainFrom = i + 1;
  }
  if (plainFrom === 0) return path.toString('latin1');
  if (plainFrom < path.length) out += path.toString('latin1', plainFrom);
  return out;
}

export class PathCodecError extends Error {}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** Decode a wire path; throws PathCodecError on anything encodePath could not have produced. */
export function decodePath(text: string): Buffer {
  if (text.length === 0) throw new PathCodecError('empty path');
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === PERCENT) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) throw new PathCodecError('bad %-escape');
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else if (code > 0x20 && code < 0x7f) {
      out[n++] = code;
    } else {
      throw new PathCodecError('unencoded byte');
    }
  }
  return out.subarray(0, n);
}
