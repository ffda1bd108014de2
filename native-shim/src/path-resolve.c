/* Turns (dirfd, path) into an absolute, lexically normalised path without following anything:
 * '.' and '..' collapse textually, the final symlink stays a symlink. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "real.h"

static const char DELETED[] = " (deleted)";

static size_t fmt_uint(char *d, unsigned long v) {
  char t[24];
  size_t k = 0, n = 0;
  do { t[k++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (k) d[n++] = t[--k];
  return n;
}

/* The path the kernel reports for an open fd; -1 if it has none (pipe, socket, deleted file). */
long fd_path(int fd, char *out, size_t cap) {
  char link[40] = "/proc/self/fd/";
  if (fd < 0) return -1;
  size_t n = 14 + fmt_uint(link + 14, (unsigned long)fd);
  link[n] = 0;
  ssize_t r = readlink(link, out, cap);
  if (r <= 0) return -1;
  if ((size_t)r >= cap) return -2;
  if (out[0] != '/') return -1;
  size_t dl = sizeof DELETED - 1;
  if ((size_t)r > dl && memcmp(out + r - dl, DELETED, dl) == 0) return -1;
  return r;
}

long resolve_at(int dirfd, const char *path, char *out, size_t cap) {
  size_t n = 0;
  if (!path || cap < 2) return -1;
  if (path[0] != '/') {
    long r;
    if (dirfd == AT_FDCWD) {
      r = REAL(syscall)(SYS_getcwd, out, cap);
      if (r < 0) return errno == ERANGE ? -2 : -1;
      if (r < 2 || out[0] != '/') return -1; /* "(unreachable)..." */
      r -= 1;                                /* the syscall counts the NUL */
    } else {
      r = fd_path(dirfd, out, cap);
      if (r < 0) return r;
    }
    n = (size_t)r;
    if (n == 1) n = 0; /* "/" */
  }
  const char *p = path;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t cl = (size_t)(p - s);
    if (cl == 1 && s[0] == '.') continue;
    if (cl == 2 && s[0] == '.' && s[1] == '.') {
      while (n > 0 && out[n - 1] != '/') n--;
      if (n > 0) n--;
      continue;
    }
    if (n + 1 + cl > cap) return -2;
    out[n++] = '/';
    memcpy(out + n, s, cl);
    n += cl;
  }
  if (n == 0) { out[0] = '/'; n = 1; }
  return (long)n;
}
