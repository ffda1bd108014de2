/* Pointers to the next definition (normally glibc's) of every wrapped function, resolved once in
 * shim_init() with dlsym(RTLD_NEXT). REAL(f) falls back to a lazy dlsym only when a wrapper runs
 * before init completed on this very thread (re-entry from dlsym itself). */
#ifndef HPCM_REAL_H
#define HPCM_REAL_H

#include <stdio.h>
#include <sys/time.h>
#include <utime.h>
#include "shim.h"

#define REAL_FUNCS(X) \
  X(int, open, (const char *, int, ...)) \
  X(int, open64, (const char *, int, ...)) \
  X(int, __open_2, (const char *, int)) \
  X(int, __open64_2, (const char *, int)) \
  X(int, openat, (int, const char *, int, ...)) \
  X(int, openat64, (int, const char *, int, ...)) \
  X(int, __openat_2, (int, const char *, int)) \
  X(int, __openat64_2, (int, const char *, int)) \
  X(int, creat, (const char *, mode_t)) \
  X(int, creat64, (const char *, mode_t)) \
  X(FILE *, fopen, (const char *, const char *)) \
  X(FILE *, fopen64, (const char *, const char *)) \
  X(FILE *, freopen, (const char *, const char *, FILE *)) \
  X(FILE *, freopen64, (const char *, const char *, FILE *)) \
  X(int, mkstemp, (char *)) \
  X(int, mkstemp64, (char *)) \
  X(int, mkostemp, (char *, int)) \
  X(int, mkostemp64, (char *, int)) \
  X(int, mkstemps, (char *, int)) \
  X(int, mkstemps64, (char *, int)) \
  X(int, mkostemps, (char *, int, int)) \
  X(int, mkostemps64, (char *, int, int)) \
  X(int, close, (int)) \
  X(int, fclose, (FILE *)) \
  X(int, dup, (int)) \
  X(int, dup2, (int, int)) \
  X(int, dup3, (int, int, int)) \
  X(int, fcntl, (int, int, ...)) \
  X(int, fcntl64, (int, int, ...)) \
  X(int, close_range, (unsigned int, unsigned int, int)) \
  X(void, closefrom, (int)) \
  X(int, rename, (const char *, const char *)) \
  X(int, renameat, (int, const char *, int, const char *)) \
  X(int, renameat2, (int, const char *, int, const char *, unsigned int)) \
  X(int, link, (const char *, const char *)) \
  X(int, linkat, (int, const char *, int, const char *, int)) \
  X(int, symlink, (const char *, const char *)) \
  X(int, symlinkat, (const char *, int, const char *)) \
  X(int, unlink, (const char *)) \
  X(int, unlinkat, (int, const char *, int)) \
  X(int, rmdir, (const char *)) \
  X(int, mkdir, (const char *, mode_t)) \
  X(int, mkdirat, (int, const char *, mode_t)) \
  X(int, truncate, (const char *, off_t)) \
  X(int, truncate64, (const char *, off64_t)) \
  X(int, ftruncate, (int, off_t)) \
  X(int, ftruncate64, (int, off64_t)) \
  X(ssize_t, sendfile, (int, int, off_t *, size_t)) \
  X(ssize_t, sendfile64, (int, int, off64_t *, size_t)) \
  X(ssize_t, copy_file_range, (int, off64_t *, int, off64_t *, size_t, unsigned int)) \
  X(int, chmod, (const char *, mode_t)) \
  X(int, fchmod, (int, mode_t)) \
  X(int, fchmodat, (int, const char *, mode_t, int)) \
  X(int, chown, (const char *, uid_t, gid_t)) \
  X(int, fchown, (int, uid_t, gid_t)) \
  X(int, lchown, (const char *, uid_t, gid_t)) \
  X(int, fchownat, (int, const char *, uid_t, gid_t, int)) \
  X(int, utime, (const char *, const struct utimbuf *)) \
  X(int, utimes, (const char *, const struct timeval *)) \
  X(int, lutimes, (const char *, const struct timeval *)) \
  X(int, futimes, (int, const struct timeval *)) \
  X(int, futimesat, (int, const char *, const struct timeval *)) \
  X(int, utimensat, (int, const char *, const struct timespec *, int)) \
  X(int, futimens, (int, const struct timespec *)) \
  X(void, _exit, (int)) \
  X(void, _Exit, (int)) \
  X(long, syscall, (long, ...))

#define X(ret, name, args) typedef ret (*name##_fn) args; extern name##_fn real_##name;
REAL_FUNCS(X)
#undef X

void *shim_dlsym(const char *name);
#define X(ret, name, args)                                   \
  static inline name##_fn get_real_##name(void) {            \
    name##_fn f = real_##name;                               \
    if (UNLIKELY(!f)) real_##name = f = (name##_fn)shim_dlsym(#name); \
    return f;                                                \
  }
REAL_FUNCS(X)
#undef X
#define REAL(f) (get_real_##f())

#endif
