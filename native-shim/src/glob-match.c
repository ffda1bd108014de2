/* Path globs as docs/path-globs.md defines them, byte for byte the same algorithm as
 * packages/core/src/glob.ts (both run test/fixtures/path-globs.json). Own code rather than
 * fnmatch(3): glibc's may allocate in multibyte locales, which is unsafe in signal context, and
 * fnmatch has no `**`. No recursion and no allocation: at most two backtracking points. */
#include <string.h>
#include "shim.h"

#define NONE ((size_t)-1)

/* The bracket expression at pat[p] == '['; returns how many pattern bytes it spans (0 when it is
 * not closed: then '[' is a literal). *hit says whether byte c is in the class; never for '/'. */
static size_t bracket(const char *pat, size_t plen, size_t p, unsigned char c, int *hit) {
  size_t i = p + 1;
  int neg = 0, in = 0;
  if (i < plen && (pat[i] == '!' || pat[i] == '^')) { neg = 1; i++; }
  size_t first = i;
  while (i < plen && (pat[i] != ']' || i == first)) {
    unsigned char lo = (unsigned char)pat[i];
    if (lo == '\\' && i + 1 < plen) lo = (unsigned char)pat[++i];
    i++;
    if (i + 1 < plen && pat[i] == '-' && pat[i + 1] != ']') {
      unsigned char hi = (unsigned char)pat[i + 1];
      if (hi == '\\' && i + 2 < plen) { hi = (unsigned char)pat[i + 2]; i++; }
      i += 2;
      if (c >= lo && c <= hi) in = 1;
    } else if (c == lo) {
      in = 1;
    }
  }
  if (i >= plen) return 0;
  *hit = (in ^ neg) && c != '/';
  return i + 1 - p;
}

int glob_match(const char *pat, size_t plen, const char *s, size_t slen) {
  size_t p = 0, i = 0;
  size_t star_p = NONE, star_i = 0;   /* latest '*': may grow within a component */
  size_t dstar_p = NONE, dstar_i = 0; /* latest '**': may grow across components */
  int dstar_whole = 0;                /* it is a whole "**" component followed by '/': grows by components */
  for (;;) {
    if (p < plen && pat[p] == '*') {
      size_t q = p + 1;
      if (q < plen && pat[q] == '*') {
        while (q < plen && pat[q] == '*') q++;
        dstar_whole = (p == 0 || pat[p - 1] == '/') && q < plen && pat[q] == '/';
        dstar_p = p = dstar_whole ? q + 1 : q;
        dstar_i = i;
        star_p = NONE;
      } else {
        star_p = p = q;
        star_i = i;
      }
      continue;
    }
    if (p == plen && i == slen) return 1;
    if (p < plen && i < slen) {
      unsigned char pc = (unsigned char)pat[p], c = (unsigned char)s[i];
      size_t used = 1;
      int ok;
      if (pc == '?') {
        ok = c != '/';
      } else if (pc == '[' && (used = bracket(pat, plen, p, c, &ok)) != 0) {
        /* ok set by bracket */
      } else if (pc == '\\' && p + 1 < plen) {
        used = 2;
        ok = (unsigned char)pat[p + 1] == c;
      } else {
        used = 1;
        ok = pc == c;
      }
      if (ok) { p += used; i++; continue; }
    }
    if (star_p != NONE && star_i < slen && s[star_i] != '/') {
      p = star_p;
      i = ++star_i;
      continue;
    }
    if (dstar_p == NONE || dstar_i >= slen) return 0;
    if (dstar_whole) {
      const char *slash = memchr(s + dstar_i, '/', slen - dstar_i);
      if (!slash) return 0;
      dstar_i = (size_t)(slash - s) + 1;
    } else {
      dstar_i++;
    }
    p = dstar_p;
    i = dstar_i;
    star_p = NONE;
  }
}

/* A pattern without '/' is matched against the last component, one with '/' against the whole path. */
static int pattern_hits(const struct glob_pattern *g, const char *p, size_t len) {
  if (memchr(g->s, '/', g->n)) return glob_match(g->s, g->n, p, len);
  const char *slash = memrchr(p, '/', len);
  size_t off = slash ? (size_t)(slash - p) + 1 : 0;
  return glob_match(g->s, g->n, p + off, len - off);
}

int globs_take(const struct glob_pattern *accept, int naccept, const struct glob_pattern *reject, int nreject,
               const char *p, size_t len) {
  for (int i = 0; i < nreject; i++)
    if (pattern_hits(&reject[i], p, len)) return 0;
  if (naccept == 0) return 1;
  for (int i = 0; i < naccept; i++)
    if (pattern_hits(&accept[i], p, len)) return 1;
  return 0;
}
