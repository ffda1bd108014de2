/**
 * The walker's exclusion rule (fnmatch) in JavaScript, for names only the destination has: a pattern
 * without '/' matches the name, one with '/' the relative path with '*' and '?' kept within one
 * component (FNM_PATHNAME). Supports *, ?, [set], [!set] and backslash escapes.
 */
function toRegExp(glob: string, pathname: boolean): RegExp {
  const any = pathname ? '[^/]' : '[\\s\\S]';
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += `${any}*`;
    else if (c === '?') re += any;
    else if (c === '\\' && i + 1 < glob.length) re += `\\${glob[++i]}`;
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let set = glob.slice(i + 1, close);
      const negate = set[0] === '!' || set[0] === '^';
      if (negate) set = set.slice(1);
      re += `[${negate ? '^' : ''}${set.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\]\\/]/g, (m) => `\\${m}`);
  }
  return new RegExp(`^${re}$`, 's');
}

export type ExcludeMatcher = (name: Buffer, relPath: Buffer) => boolean;

/** Matches on latin1 text, which maps every byte to one character, as fnmatch sees bytes. */
export function excludeMatcher(globs: readonly string[]): ExcludeMatcher {
  const compiled = globs.map((g) => ({ onPath: g.includes('/'), re: toRegExp(Buffer.from(g).toString('latin1'), g.includes('/')) }));
  if (compiled.length === 0) return () => false;
  return (name, relPath) => compiled.some(({ onPath, re }) => re.test((onPath ? relPath : name).toString('latin1')));
}
