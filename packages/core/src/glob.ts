/**
 * accept/reject globs on path bytes, one meaning for every component (agent, subscriber, CLI).
 * A pattern without `/` is matched against the last component (`*.tmp` rejects every .tmp file),
 * one with `/` against the whole absolute path. `*` and `?` stay within a component, `**` crosses
 * them, `[...]`/`[!...]` are byte classes. Paths and patterns are compared as latin1 strings, so
 * any byte sequence (also invalid UTF-8) matches exactly; `?` matches one byte.
 */
export function globToRegExp(pattern: string): RegExp {
  const p = Buffer.from(pattern, 'utf8').toString('latin1');
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      if (p[i + 1] === '*') {
        const wholeComponent = (i === 0 || p[i - 1] === '/') && (p[i + 2] === '/' || i + 2 === p.length);
        i += 1;
        if (wholeComponent && p[i + 1] === '/') {
          re += '(?:.*/)?';
          i += 1;
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = p.slice(i + 1, end);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      body = body.replace(/[\\\]^]/g, (m) => `\\${m}`);
      re += negate ? `[^/${body}]` : `[${body}]`;
      i = end;
    } else {
      re += c.replace(/[.+^${}()|\\/]/g, (m) => `\\${m}`);
    }
  }
  return new RegExp(`^${re}$`, 's');
}

interface CompiledGlob {
  pattern: string;
  re: RegExp;
  /** No `/` in the pattern: matched against the last component. */
  basename: boolean;
}

const compile = (pattern: string): CompiledGlob => ({ pattern, re: globToRegExp(pattern), basename: !pattern.includes('/') });

/** A path is taken when it matches no reject pattern and, if there are accept patterns, one of them. */
export class AcceptRejectFilter {
  readonly #accept: CompiledGlob[];
  readonly #reject: CompiledGlob[];

  constructor(accept: readonly string[], reject: readonly string[]) {
    this.#accept = accept.map(compile);
    this.#reject = reject.map(compile);
  }

  /** Why the path is not taken, or undefined when it is. */
  rejectedBy(path: Buffer): string | undefined {
    const whole = path.toString('latin1');
    const last = whole.slice(whole.lastIndexOf('/') + 1);
    const hit = (g: CompiledGlob): boolean => g.re.test(g.basename ? last : whole);
    const r = this.#reject.find(hit);
    if (r) return `matches reject pattern ${r.pattern}`;
    if (this.#accept.length > 0 && !this.#accept.some(hit)) return 'matches no accept pattern';
    return undefined;
  }

  accepts(path: Buffer): boolean {
    return this.rejectedBy(path) === undefined;
  }
}
