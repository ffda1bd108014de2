/* Test driver for the shim's accept/reject filter (src/glob-match.c, linked in directly): per stdin
 * line "<accept hex,...> <reject hex,...> <path hex>" (a lone '-' = no patterns) prints 1 when the
 * path is taken, else 0. Hex keeps any byte (also '/', ':', non-UTF-8) out of the line format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../src/shim.h"

#define MAXP 32

static size_t unhex(const char *h, size_t n, char *out) {
  size_t k = 0;
  for (size_t i = 0; i + 1 < n; i += 2) {
    char b[3] = {h[i], h[i + 1], 0};
    out[k++] = (char)strtoul(b, NULL, 16);
  }
  return k;
}

/* "-" or comma-separated hex patterns, decoded into buf */
static int patterns(const char *field, struct glob_pattern *out, char *buf) {
  int n = 0;
  if (strcmp(field, "-") == 0) return 0;
  while (*field && n < MAXP) {
    const char *e = strchr(field, ',');
    size_t len = e ? (size_t)(e - field) : strlen(field);
    size_t k = unhex(field, len, buf);
    out[n++] = (struct glob_pattern){buf, k};
    buf += k;
    if (!e) break;
    field = e + 1;
  }
  return n;
}

int main(void) {
  static char line[65536], acc[16384], rej[16384], abuf[16384], rbuf[16384], path[16384];
  while (fgets(line, sizeof line, stdin)) {
    struct glob_pattern a[MAXP], r[MAXP];
    if (sscanf(line, "%16383s %16383s %16383s", acc, rej, path) != 3) return 2;
    int na = patterns(acc, a, abuf), nr = patterns(rej, r, rbuf);
    size_t plen = unhex(path, strlen(path), path);
    printf("%d\n", globs_take(a, na, r, nr, path, plen));
  }
  return 0;
}
