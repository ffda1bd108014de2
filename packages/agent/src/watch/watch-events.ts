/**
 * Decoder of hpcm-watch's event stream (native-watch/src/main.c): records of a 16-byte
 * little-endian header (total length, type byte, is-directory byte, two path lengths) and the path
 * bytes. Paths are kept as latin1 strings: one char per byte, so any name survives.
 */
export type WatchEventType =
  | 'ready' | 'close-write' | 'modified' | 'attrib' | 'mkdir' | 'deleted'
  | 'renamed' | 'moved-out' | 'moved-in' | 'overflow' | 'root-gone' | 'error';

export interface WatchEvent {
  type: WatchEventType;
  isDir: boolean;
  /** Absolute path (latin1); for `ready` the number of watches, for `error` the message. */
  path: string;
  /** `renamed`: the old path. */
  oldPath?: string;
}

const TYPES: Record<string, WatchEventType> = {
  R: 'ready', W: 'close-write', M: 'modified', A: 'attrib', D: 'mkdir', X: 'deleted',
  N: 'renamed', O: 'moved-out', I: 'moved-in', Q: 'overflow', G: 'root-gone', E: 'error',
};

const HEADER = 16;

/** Feeds chunks in, gets whole events out; keeps a partial record for the next chunk. */
export class WatchEventDecoder {
  #rest: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): WatchEvent[] {
    const buf = this.#rest.length ? Buffer.concat([this.#rest, chunk]) : chunk;
    const out: WatchEvent[] = [];
    let pos = 0;
    while (buf.length - pos >= HEADER) {
      const total = buf.readUInt32LE(pos);
      const l1 = buf.readUInt32LE(pos + 8);
      const l2 = buf.readUInt32LE(pos + 12);
      const type = TYPES[String.fromCharCode(buf[pos + 4]!)];
      if (total !== HEADER + l1 + l2 || !type) throw new Error(`hpcm-watch stream out of step at byte ${pos}`);
      if (buf.length - pos < total) break;
      const p1 = buf.toString('latin1', pos + HEADER, pos + HEADER + l1);
      const ev: WatchEvent = { type, isDir: buf[pos + 5] === 1, path: p1 };
      if (l2) ev.oldPath = buf.toString('latin1', pos + HEADER + l1, pos + total);
      out.push(ev);
      pos += total;
    }
    this.#rest = Buffer.from(buf.subarray(pos));
    return out;
  }
}
