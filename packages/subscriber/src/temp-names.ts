import { randomBytes } from 'node:crypto';

/**
 * Temp files are `.hpcm.<16 hex>`: 22 bytes, far below any name limit. The first 6 hex digits are this
 * subscriber's instance tag (kept in its state dir), so leftovers of our own crashed workers can be
 * told from the live temp files of another subscriber writing into the same directory.
 */
export const TEMP_PREFIX = '.hpcm.';
const TEMP_RE = /^\.hpcm\.[0-9a-f]{16}$/;

export function isTempName(name: Buffer): boolean {
  return name.length === 22 && TEMP_RE.test(name.toString('latin1'));
}

const COUNTER_SPACE = 2 ** 40;

export class TempNames {
  readonly tag: string;
  /**
   * The other 10 hex digits count up from a random start: unique within this process without a call
   * into the CSPRNG per file, and as unlikely as random names to meet a leftover of an earlier run.
   */
  #counter = randomBytes(5).readUIntBE(0, 5);

  constructor(tag: string) {
    if (!/^[0-9a-f]{6}$/.test(tag)) throw new Error(`instance tag must be 6 hex digits, got ${tag}`);
    this.tag = tag;
  }

  static newTag(): string {
    return randomBytes(3).toString('hex');
  }

  next(): Buffer {
    const n = this.#counter;
    this.#counter = (n + 1) % COUNTER_SPACE;
    return Buffer.from(`${TEMP_PREFIX}${this.tag}${n.toString(16).padStart(10, '0')}`, 'latin1');
  }

  isOurs(name: Buffer): boolean {
    return isTempName(name) && name.toString('latin1').startsWith(TEMP_PREFIX + this.tag);
  }
}
