/* Process exit without exit handlers: _exit/_Exit and syscall(SYS_exit_group) write EXIT before
 * the real call; exit() and a return from main are covered by the destructor in init.c.
 * syscall(SYS_renameat2) is the one raw syscall announced like its libc wrapper; raw close, dup2,
 * dup3 and close_range make the spool writer re-check its fd. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "real.h"

EXPORT void _exit(int status) {
  if (shim_on()) emit_exit();
  REAL(_exit)(status);
  __builtin_unreachable();
}

EXPORT void _Exit(int status) {
  if (shim_on()) emit_exit();
  REAL(_Exit)(status);
  __builtin_unreachable();
}

static inline int closes_fds(long n) {
#ifdef SYS_dup2
  if (n == SYS_dup2) return 1;
#endif
  return n == SYS_close || n == SYS_close_range || n == SYS_dup3;
}

EXPORT long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
  long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
  va_end(ap);
  if (n == SYS_exit_group && shim_on()) emit_exit();
  long rc = REAL(syscall)(n, a1, a2, a3, a4, a5, a6);
  if (closes_fds(n)) {
    int saved = errno;
    spool_fd_event(); /* behind the close/dup wrappers' back: the spool fd may be gone or replaced */
    errno = saved;
  }
  if (n == SYS_renameat2 && rc == 0 && shim_on())
    ev_rename((int)a1, (const char *)a2, (int)a3, (const char *)a4, (unsigned)a5);
  return rc;
}
