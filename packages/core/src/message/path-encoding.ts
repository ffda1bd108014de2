/**
 * Linux names are bytes. JSON carries text. Valid UTF-8 goes through as is; when any byte is not
 * part of a valid UTF-8 sequence, the whole message switches to `hpcm_pathEncoding: "percent"`,
 * where invalid bytes and `%` itself are written as %XX (messages.md "Paths are bytes").
 */
export type PathEncoding = 'percent' | undefined;

/** Length of the valid UTF-8 sequence starting at i, or 0 if the byte there starts none. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; }
  else return 0;
  if (i + n > b.length) return 0;
  let cp = c & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const cc = b[i + k]!;
    if ((cc & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

export function isValidUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length;) {
    const n = utf8SequenceLength(b, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}

const hex = (c: number): string => '%' + c.toString(16).toUpperCase().padStart(2, '0');

/** Percent-encodes invalid bytes, `%`, and any extra ASCII bytes listed in `alsoEncode`. */
export function percentEncodeBytes(b: Uint8Array, alsoEncode = ''): string {
  let out = '';
  for (let i = 0; i < b.length;) {
    const n = utf8SequenceLength(b, i);
    if (n === 0) { out += hex(b[i]!); i += 1; continue; }
    if (n === 1) {
      const ch = String.fromCharCode(b[i]!);
      out += ch === '%' || alsoEncode.includes(ch) ? hex(b[i]!) : ch;
    } else {
      out += Buffer.from(b.subarray(i, i + n)).toString('utf8');
    }
    i += n;
  }
  return out;
}

export function percentDecodeToBytes(s: string): Buffer {
  const parts: Buffer[] = [];
  let text = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      if (text) { parts.push(Buffer.from(text, 'utf8')); text = ''; }
      parts.push(Buffer.from([parseInt(s.slice(i + 1, i + 3), 16)]));
      i += 2;
    } else {
      text += s[i];
    }
  }
  if (text) parts.push(Buffer.from(text, 'utf8'));
  return Buffer.concat(parts);
}

/** Encodes path bytes for a JSON field under the given message-wide encoding. */
export function encodePathField(bytes: Uint8Array, encoding: PathEncoding): string {
  return encoding === 'percent' ? percentEncodeBytes(bytes) : Buffer.from(bytes).toString('utf8');
}

export function decodePathField(s: string, encoding: PathEncoding): Buffer {
  return encoding === 'percent' ? percentDecodeToBytes(s) : Buffer.from(s, 'utf8');
}

/** The encoding a message needs so that every one of these byte strings survives JSON. */
export function encodingFor(...fields: (Uint8Array | undefined)[]): PathEncoding {
  return fields.every((f) => f === undefined || isValidUtf8(f)) ? undefined : 'percent';
}
