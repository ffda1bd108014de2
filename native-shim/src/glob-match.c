/* fnmatch(3)-style matching on raw bytes without FNM_PATHNAME ('*' also matches '/'). Own code
 * because glibc's fnmatch may allocate in multibyte locales, which is unsafe in signal context. */
#include "shim.h"

/* matches one bracket expression at p (just after '['); returns the length consumed or 0 if the
 * expression is not closed (then '[' is literal). *hit is set when c is in the set. */
static size_t bracket(const char *p, size_t n, unsigned char c, int *hit) {
  size_t i = 0;
  int neg = 0, in = 0;
  if (i < n && (p[i] == '!' || p[i] == '^')) { neg = 1; i++; }
  size_t first = i;
  while (i < n && (p[i] != ']' || i == first)) {
    unsigned char lo = (unsigned char)p[i];
    if (lo == '\\' && i + 1 < n) lo = (unsigned char)p[++i];
    i++;
    if (i + 1 < n && p[i] == '-' && p[i + 1] != ']') {
      unsigned char hi = (unsigned char)p[i + 1];
      if (hi == '\\' && i + 2 < n) { hi = (unsigned char)p[i + 2]; i++; }
      i += 2;
      if (c >= lo && c <= hi) in = 1;
    } else if (c == lo) {
      in = 1;
    }
  }
  if (i >= n) return 0;
  *hit = in ^ neg;
  return i + 1;
}

int glob_match(const char *pat, size_t plen, const char *s, size_t slen) {
  size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;
  while (i < slen) {
    if (p < plen) {
      char pc = pat[p];
      if (pc == '*') { star_p = ++p; star_i = i; continue; }
      if (pc == '?') { p++; i++; continue; }
      if (pc == '[') {
        int hit = 0;
        size_t used = bracket(pat + p + 1, plen - p - 1, (unsigned char)s[i], &hit);
        if (used) {
          if (hit) { p += 1 + used; i++; continue; }
          goto mismatch;
        }
      } else if (pc == '\\' && p + 1 < plen) {
        if (pat[p + 1] == s[i]) { p += 2; i++; continue; }
        goto mismatch;
      }
      if (pc == s[i]) { p++; i++; continue; }
    }
  mismatch:
    if (star_p == (size_t)-1) return 0;
    p = star_p;
    i = ++star_i;
  }
  while (p < plen && pat[p] == '*') p++;
  return p == plen;
}
