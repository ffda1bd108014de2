/* Metadata changes (META) and content changes without an open (CHANGED). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include "real.h"

#define PATH_CALL(call, op, dirfd, path, atfl)               \
  int rc = call;                                             \
  if (rc == 0 && shim_on()) ev_meta_path(op, dirfd, path, atfl); \
  return rc

#define FD_CALL(call, op, fd)                                \
  int rc = call;                                             \
  if (rc == 0 && shim_on()) ev_meta_fd(op, fd);              \
  return rc

EXPORT int chmod(const char *p, mode_t m) { PATH_CALL(REAL(chmod)(p, m), OP_META, AT_FDCWD, p, 0); }
EXPORT int fchmod(int fd, mode_t m) { FD_CALL(REAL(fchmod)(fd, m), OP_META, fd); }
EXPORT int fchmodat(int d, const char *p, mode_t m, int fl) { PATH_CALL(REAL(fchmodat)(d, p, m, fl), OP_META, d, p, fl); }
EXPORT int chown(const char *p, uid_t u, gid_t g) { PATH_CALL(REAL(chown)(p, u, g), OP_META, AT_FDCWD, p, 0); }
EXPORT int lchown(const char *p, uid_t u, gid_t g) { PATH_CALL(REAL(lchown)(p, u, g), OP_META, AT_FDCWD, p, AT_SYMLINK_NOFOLLOW); }
EXPORT int fchown(int fd, uid_t u, gid_t g) { FD_CALL(REAL(fchown)(fd, u, g), OP_META, fd); }
EXPORT int fchownat(int d, const char *p, uid_t u, gid_t g, int fl) { PATH_CALL(REAL(fchownat)(d, p, u, g, fl), OP_META, d, p, fl); }
EXPORT int utime(const char *p, const struct utimbuf *t) { PATH_CALL(REAL(utime)(p, t), OP_META, AT_FDCWD, p, 0); }
EXPORT int utimes(const char *p, const struct timeval t[2]) { PATH_CALL(REAL(utimes)(p, t), OP_META, AT_FDCWD, p, 0); }
EXPORT int lutimes(const char *p, const struct timeval t[2]) { PATH_CALL(REAL(lutimes)(p, t), OP_META, AT_FDCWD, p, AT_SYMLINK_NOFOLLOW); }
EXPORT int futimes(int fd, const struct timeval t[2]) { FD_CALL(REAL(futimes)(fd, t), OP_META, fd); }
EXPORT int futimesat(int d, const char *p, const struct timeval t[2]) { PATH_CALL(REAL(futimesat)(d, p, t), OP_META, d, p, 0); }
EXPORT int futimens(int fd, const struct timespec t[2]) { FD_CALL(REAL(futimens)(fd, t), OP_META, fd); }

/* glibc declares the path nonnull, yet the kernel takes NULL as "dirfd itself" */
static NOINLINE void utimensat_event(int d, const char *p, int fl) {
  const char *volatile path = p;
  if (path) ev_meta_path(OP_META, d, path, fl);
  else ev_meta_fd(OP_META, d);
}

EXPORT int utimensat(int d, const char *p, const struct timespec t[2], int fl) {
  int rc = REAL(utimensat)(d, p, t, fl);
  if (rc == 0 && shim_on()) utimensat_event(d, p, fl);
  return rc;
}

EXPORT int truncate(const char *p, off_t len) { PATH_CALL(REAL(truncate)(p, len), OP_CHANGED, AT_FDCWD, p, 0); }
EXPORT int truncate64(const char *p, off64_t len) { PATH_CALL(REAL(truncate64)(p, len), OP_CHANGED, AT_FDCWD, p, 0); }
EXPORT int ftruncate(int fd, off_t len) { FD_CALL(REAL(ftruncate)(fd, len), OP_CHANGED, fd); }
EXPORT int ftruncate64(int fd, off64_t len) { FD_CALL(REAL(ftruncate64)(fd, len), OP_CHANGED, fd); }

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n) {
  ssize_t rc = REAL(sendfile)(out, in, off, n);
  if (rc > 0 && shim_on()) ev_meta_fd(OP_CHANGED, out);
  return rc;
}

EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n) {
  ssize_t rc = REAL(sendfile64)(out, in, off, n);
  if (rc > 0 && shim_on()) ev_meta_fd(OP_CHANGED, out);
  return rc;
}

EXPORT ssize_t copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t n, unsigned int fl) {
  copy_file_range_fn f = REAL(copy_file_range);
  if (!f) { errno = ENOSYS; return -1; }
  ssize_t rc = f(in, inoff, out, outoff, n, fl);
  if (rc > 0 && shim_on()) ev_meta_fd(OP_CHANGED, out);
  return rc;
}
