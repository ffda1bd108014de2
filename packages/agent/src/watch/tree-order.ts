/**
 * Paths are latin1 strings (one char per byte). The index and the tree walk both list a tree
 * depth first with each directory's names in byte order; comparing with '/' below every other
 * byte gives exactly that order, so the two can be merged as sorted streams.
 */
export function dfsCompare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    return (x === 47 ? -1 : x) - (y === 47 ? -1 : y);
  }
  return a.length - b.length;
}

/** a is b or lies below it. */
export function isAtOrBelow(a: string, b: string): boolean {
  return b === '' || a === b || (a.length > b.length && a.charCodeAt(b.length) === 47 && a.startsWith(b));
}

export const toFsPath = (p: string): Buffer => Buffer.from(p, 'latin1');
