/* open family: files opened for writing under a root are recorded (OPEN_W) and tracked. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "real.h"

int __open_2(const char *, int);
int __open64_2(const char *, int);
int __openat_2(int, const char *, int);
int __openat64_2(int, const char *, int);

static inline int writes(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
}

static inline int needs_mode(int flags) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define GET_MODE(flags, mode)                  \
  mode_t mode = 0;                             \
  if (needs_mode(flags)) {                     \
    va_list ap;                                \
    va_start(ap, flags);                       \
    mode = (mode_t)va_arg(ap, int);            \
    va_end(ap);                                \
  }

static inline int after(int fd, int dirfd, const char *path, int flags) {
  if (fd >= 0 && writes(flags) && shim_on()) ev_after_open(fd, dirfd, path, flags);
  return fd;
}

EXPORT int open(const char *path, int flags, ...) {
  GET_MODE(flags, mode);
  return after(REAL(open)(path, flags, mode), AT_FDCWD, path, flags);
}

EXPORT int open64(const char *path, int flags, ...) {
  GET_MODE(flags, mode);
  return after(REAL(open64)(path, flags, mode), AT_FDCWD, path, flags);
}

EXPORT int __open_2(const char *path, int flags) {
  return after(REAL(__open_2)(path, flags), AT_FDCWD, path, flags);
}

EXPORT int __open64_2(const char *path, int flags) {
  return after(REAL(__open64_2)(path, flags), AT_FDCWD, path, flags);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  GET_MODE(flags, mode);
  return after(REAL(openat)(dirfd, path, flags, mode), dirfd, path, flags);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
  GET_MODE(flags, mode);
  return after(REAL(openat64)(dirfd, path, flags, mode), dirfd, path, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags) {
  return after(REAL(__openat_2)(dirfd, path, flags), dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
  return after(REAL(__openat64_2)(dirfd, path, flags), dirfd, path, flags);
}

EXPORT int creat(const char *path, mode_t mode) {
  return after(REAL(creat)(path, mode), AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC);
}

EXPORT int creat64(const char *path, mode_t mode) {
  return after(REAL(creat64)(path, mode), AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC);
}

/* the open(2) flags an fopen mode string stands for */
static int mode_flags(const char *m) {
  if (!m) return O_RDONLY;
  int f = m[0] == 'r' ? O_RDONLY : m[0] == 'w' ? O_WRONLY | O_CREAT | O_TRUNC : m[0] == 'a' ? O_WRONLY | O_CREAT : O_RDONLY;
  for (const char *c = m + 1; *c && *c != ','; c++)
    if (*c == '+') f = (f & ~O_ACCMODE) | O_RDWR;
  return f;
}

static FILE *after_fopen(FILE *fp, const char *path, const char *mode) {
  int flags = mode_flags(mode);
  if (fp && writes(flags) && shim_on()) ev_after_open(fileno(fp), AT_FDCWD, path, flags);
  return fp;
}

EXPORT FILE *fopen(const char *path, const char *mode) {
  return after_fopen(REAL(fopen)(path, mode), path, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode) {
  return after_fopen(REAL(fopen64)(path, mode), path, mode);
}

/* freopen closes the stream's old file inside libc: announce that close ourselves */
static NOINLINE FILE *reopen(freopen_fn real, const char *path, const char *mode, FILE *fp) {
  if (!path || !fp || !shim_on()) return after_fopen(real(path, mode, fp), path, mode);
  int saved = errno;
  int fd = fileno(fp);
  uint32_t e = fdt_take(fd);
  rec_t r;
  struct stat64 st;
  uint32_t flags = 0;
  int have = 0;
  if (e) {
    fflush(fp);
    t_busy = 1;
    have = ev_gather_close(fd, e, fd, fd, &r, &st, &flags);
    t_busy = 0;
  }
  errno = saved;
  FILE *nfp = real(path, mode, fp);
  if (have) {
    saved = errno;
    t_busy = 1;
    rec_emit(&r, OP_CLOSE_W, flags, &st);
    t_busy = 0;
    errno = saved;
  }
  return after_fopen(nfp, path, mode);
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp) {
  return reopen(REAL(freopen), path, mode, fp);
}

EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp) {
  return reopen(REAL(freopen64), path, mode, fp);
}

static inline int after_tmp(int fd, const char *tmpl) {
  return after(fd, AT_FDCWD, tmpl, O_RDWR | O_CREAT | O_EXCL);
}

EXPORT int mkstemp(char *t) { return after_tmp(REAL(mkstemp)(t), t); }
EXPORT int mkstemp64(char *t) { return after_tmp(REAL(mkstemp64)(t), t); }
EXPORT int mkostemp(char *t, int fl) { return after_tmp(REAL(mkostemp)(t, fl), t); }
EXPORT int mkostemp64(char *t, int fl) { return after_tmp(REAL(mkostemp64)(t, fl), t); }
EXPORT int mkstemps(char *t, int sl) { return after_tmp(REAL(mkstemps)(t, sl), t); }
EXPORT int mkstemps64(char *t, int sl) { return after_tmp(REAL(mkstemps64)(t, sl), t); }
EXPORT int mkostemps(char *t, int sl, int fl) { return after_tmp(REAL(mkostemps)(t, sl, fl), t); }
EXPORT int mkostemps64(char *t, int sl, int fl) { return after_tmp(REAL(mkostemps64)(t, sl, fl), t); }
