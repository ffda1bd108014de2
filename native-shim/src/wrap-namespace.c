/* Name changes: rename/link/symlink/unlink/mkdir/rmdir and their *at forms. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include "real.h"

EXPORT int rename(const char *oldp, const char *newp) {
  int rc = REAL(rename)(oldp, newp);
  if (rc == 0 && shim_on()) ev_rename(AT_FDCWD, oldp, AT_FDCWD, newp, 0);
  return rc;
}

EXPORT int renameat(int od, const char *oldp, int nd, const char *newp) {
  int rc = REAL(renameat)(od, oldp, nd, newp);
  if (rc == 0 && shim_on()) ev_rename(od, oldp, nd, newp, 0);
  return rc;
}

EXPORT int renameat2(int od, const char *oldp, int nd, const char *newp, unsigned int flags) {
  renameat2_fn f = REAL(renameat2);
  if (!f) { errno = ENOSYS; return -1; }
  int rc = f(od, oldp, nd, newp, flags);
  if (rc == 0 && shim_on()) ev_rename(od, oldp, nd, newp, flags);
  return rc;
}

EXPORT int link(const char *oldp, const char *newp) {
  int rc = REAL(link)(oldp, newp);
  if (rc == 0 && shim_on()) ev_link(AT_FDCWD, oldp, AT_FDCWD, newp, 0);
  return rc;
}

EXPORT int linkat(int od, const char *oldp, int nd, const char *newp, int flags) {
  int rc = REAL(linkat)(od, oldp, nd, newp, flags);
  if (rc == 0 && shim_on()) ev_link(od, oldp, nd, newp, flags);
  return rc;
}

EXPORT int symlink(const char *target, const char *linkp) {
  int rc = REAL(symlink)(target, linkp);
  if (rc == 0 && shim_on()) ev_symlink(target, AT_FDCWD, linkp);
  return rc;
}

EXPORT int symlinkat(const char *target, int nd, const char *linkp) {
  int rc = REAL(symlinkat)(target, nd, linkp);
  if (rc == 0 && shim_on()) ev_symlink(target, nd, linkp);
  return rc;
}

EXPORT int unlink(const char *p) {
  int rc = REAL(unlink)(p);
  if (rc == 0 && shim_on()) ev_path_op(OP_UNLINK, AT_FDCWD, p, 0);
  return rc;
}

EXPORT int unlinkat(int d, const char *p, int flags) {
  int rc = REAL(unlinkat)(d, p, flags);
  if (rc == 0 && shim_on()) ev_path_op(flags & AT_REMOVEDIR ? OP_RMDIR : OP_UNLINK, d, p, 0);
  return rc;
}

/* as glibc does it, so the record knows whether a file or a directory went away */
EXPORT int remove(const char *p) {
  int rc = REAL(unlink)(p);
  if (rc == 0) {
    if (shim_on()) ev_path_op(OP_UNLINK, AT_FDCWD, p, 0);
    return 0;
  }
  if (errno != EISDIR) return rc;
  rc = REAL(rmdir)(p);
  if (rc == 0 && shim_on()) ev_path_op(OP_RMDIR, AT_FDCWD, p, 0);
  return rc;
}

EXPORT int rmdir(const char *p) {
  int rc = REAL(rmdir)(p);
  if (rc == 0 && shim_on()) ev_path_op(OP_RMDIR, AT_FDCWD, p, 0);
  return rc;
}

EXPORT int mkdir(const char *p, mode_t mode) {
  int rc = REAL(mkdir)(p, mode);
  if (rc == 0 && shim_on()) ev_path_op(OP_MKDIR, AT_FDCWD, p, 0);
  return rc;
}

EXPORT int mkdirat(int d, const char *p, mode_t mode) {
  int rc = REAL(mkdirat)(d, p, mode);
  if (rc == 0 && shim_on()) ev_path_op(OP_MKDIR, d, p, 0);
  return rc;
}
