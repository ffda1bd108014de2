import { isValidUtf8, percentEncodeBytes } from './path-encoding.js';

const MAX_TOPIC_BYTES = 255;

/** A topic word must not contain `.`, `#` or `*` and must be UTF-8 (messages.md "Envelope"). */
function topicWord(component: Buffer): string {
  const s = component.toString('utf8');
  if (isValidUtf8(component) && !/[.#*%]/.test(s)) return s;
  return percentEncodeBytes(component, '.#*');
}

/**
 * `v03.` + the directory components of the path, cut at a component boundary so the key stays
 * within AMQP's 255 bytes. `dirBytes` is the relPath's directory as bytes (no leading `/`).
 */
export function topicFor(relPathBytes: Buffer, prefix = 'v03'): string {
  const parts = splitBytes(relPathBytes, 0x2f).filter((p) => p.length > 0);
  parts.pop(); // the file name is not part of the topic
  let topic = prefix;
  for (const p of parts) {
    const next = `${topic}.${topicWord(p)}`;
    if (Buffer.byteLength(next) > MAX_TOPIC_BYTES) break;
    topic = next;
  }
  return topic;
}

export function splitBytes(b: Buffer, sep: number): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || b[i] === sep) {
      out.push(b.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}
