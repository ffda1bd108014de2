/**
 * accept/reject globs on path bytes, one meaning for every component (shim, agent, watch, subscriber,
 * CLI): docs/path-globs.md. This is the same algorithm as native-shim/src/glob-match.c, step for step,
 * so the two cannot drift; both run the cases in test/fixtures/path-globs.json.
 */

const SLASH = 0x2f;
const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BACKSLASH = 0x5c;
const BANG = 0x21;
const CARET = 0x5e;
const DASH = 0x2d;
const NONE = -1;

/** Bytes of the bracket expression at pat[p] ('['), 0 when not closed; hit: c is in the class (never '/'). */
function bracket(pat: Uint8Array, p: number, c: number): { used: number; hit: boolean } {
  const plen = pat.length;
  let i = p + 1;
  let neg = false;
  let inSet = false;
  if (i < plen && (pat[i] === BANG || pat[i] === CARET)) {
    neg = true;
    i++;
  }
  const first = i;
  while (i < plen && (pat[i] !== CLOSE || i === first)) {
    let lo = pat[i]!;
    if (lo === BACKSLASH && i + 1 < plen) lo = pat[++i]!;
    i++;
    if (i + 1 < plen && pat[i] === DASH && pat[i + 1] !== CLOSE) {
      let hi = pat[i + 1]!;
      if (hi === BACKSLASH && i + 2 < plen) {
        hi = pat[i + 2]!;
        i++;
      }
      i += 2;
      if (c >= lo && c <= hi) inSet = true;
    } else if (c === lo) {
      inSet = true;
    }
  }
  if (i >= plen) return { used: 0, hit: false };
  return { used: i + 1 - p, hit: inSet !== neg && c !== SLASH };
}

/** Whether the whole of s matches the pattern (both raw bytes). */
export function globMatch(pat: Uint8Array, s: Uint8Array): boolean {
  const plen = pat.length;
  const slen = s.length;
  let p = 0;
  let i = 0;
  let starP = NONE; // latest '*': may grow within a component
  let starI = 0;
  let dstarP = NONE; // latest '**': may grow across components
  let dstarI = 0;
  let dstarWhole = false; // a whole "**" component followed by '/': grows by components
  for (;;) {
    if (p < plen && pat[p] === STAR) {
      let q = p + 1;
      if (q < plen && pat[q] === STAR) {
        while (q < plen && pat[q] === STAR) q++;
        dstarWhole = (p === 0 || pat[p - 1] === SLASH) && q < plen && pat[q] === SLASH;
        dstarP = p = dstarWhole ? q + 1 : q;
        dstarI = i;
        starP = NONE;
      } else {
        starP = p = q;
        starI = i;
      }
      continue;
    }
    if (p === plen && i === slen) return true;
    if (p < plen && i < slen) {
      const pc = pat[p]!;
      const c = s[i]!;
      let used = 1;
      let ok: boolean;
      const cls = pc === OPEN ? bracket(pat, p, c) : undefined;
      if (pc === QUESTION) {
        ok = c !== SLASH;
      } else if (cls && cls.used !== 0) {
        used = cls.used;
        ok = cls.hit;
      } else if (pc === BACKSLASH && p + 1 < plen) {
        used = 2;
        ok = pat[p + 1] === c;
      } else {
        ok = pc === c;
      }
      if (ok) {
        p += used;
        i++;
        continue;
      }
    }
    if (starP !== NONE && starI < slen && s[starI] !== SLASH) {
      p = starP;
      i = ++starI;
      continue;
    }
    if (dstarP === NONE || dstarI >= slen) return false;
    if (dstarWhole) {
      const slash = s.indexOf(SLASH, dstarI);
      if (slash < 0) return false;
      dstarI = slash + 1;
    } else {
      dstarI++;
    }
    p = dstarP;
    i = dstarI;
    starP = NONE;
  }
}

interface CompiledGlob {
  pattern: string;
  bytes: Buffer;
  /** No `/` in the pattern: matched against the last component. */
  basename: boolean;
}

/** Patterns come from YAML as strings (compared as their UTF-8 bytes), or as raw bytes. */
export type GlobPattern = string | Uint8Array;

const compile = (pattern: GlobPattern): CompiledGlob => {
  const bytes = typeof pattern === 'string' ? Buffer.from(pattern, 'utf8') : Buffer.from(pattern);
  return { pattern: typeof pattern === 'string' ? pattern : bytes.toString('latin1'), bytes, basename: !bytes.includes(SLASH) };
};

/** A path is taken when it matches no reject pattern and, if there are accept patterns, one of them. */
export class AcceptRejectFilter {
  readonly #accept: CompiledGlob[];
  readonly #reject: CompiledGlob[];

  constructor(accept: readonly GlobPattern[], reject: readonly GlobPattern[]) {
    this.#accept = accept.map(compile);
    this.#reject = reject.map(compile);
  }

  /** Why the path is not taken, or undefined when it is. */
  rejectedBy(path: Buffer): string | undefined {
    const last = path.subarray(path.lastIndexOf(SLASH) + 1);
    const hit = (g: CompiledGlob): boolean => globMatch(g.bytes, g.basename ? last : path);
    const r = this.#reject.find(hit);
    if (r) return `matches reject pattern ${r.pattern}`;
    if (this.#accept.length > 0 && !this.#accept.some(hit)) return 'matches no accept pattern';
    return undefined;
  }

  accepts(path: Buffer): boolean {
    return this.rejectedBy(path) === undefined;
  }
}
