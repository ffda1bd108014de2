/* close family and fd duplication: announce a written file when its last tracked fd goes away;
 * never let the program close the spool's fd through close/close_range/closefrom. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include "real.h"

struct pending {
  rec_t r;
  struct stat64 st;
  uint32_t flags;
  int have;
};

static void gather(int fd, uint32_t e, struct pending *p) {
  int saved = errno;
  t_busy = 1;
  p->have = ev_gather_close(fd, e, fd, fd, &p->r, &p->st, &p->flags);
  t_busy = 0;
  errno = saved;
}

static void emit(struct pending *p) {
  if (!p->have) return;
  int saved = errno;
  t_busy = 1;
  rec_emit(&p->r, OP_CLOSE_W, p->flags, &p->st);
  t_busy = 0;
  errno = saved;
}

static NOINLINE int close_tracked(int fd, uint32_t e) {
  struct pending p;
  gather(fd, e, &p);
  int rc = REAL(close)(fd);
  emit(&p);
  return rc;
}

EXPORT int close(int fd) {
  if (!shim_on()) return REAL(close)(fd);
  /* a program closing every fd number (or a stray one) must not take the spool's */
  if (UNLIKELY(spool_is_ours(fd))) return 0;
  uint32_t e = fdt_take(fd);
  if (LIKELY(!e)) return REAL(close)(fd);
  return close_tracked(fd, e);
}

static NOINLINE int fclose_tracked(FILE *fp, int fd, uint32_t e) {
  struct pending p;
  int saved = errno;
  fflush(fp); /* the stat must see what fclose is about to write */
  errno = saved;
  gather(fd, e, &p);
  int rc = REAL(fclose)(fp);
  emit(&p);
  return rc;
}

EXPORT int fclose(FILE *fp) {
  if (!fp || !shim_on()) return REAL(fclose)(fp);
  int fd = fileno(fp);
  uint32_t e = fdt_take(fd);
  if (LIKELY(!e)) return REAL(fclose)(fp);
  return fclose_tracked(fp, fd, e);
}

EXPORT int dup(int fd) {
  int rc = REAL(dup)(fd);
  if (rc >= 0 && fdt_peek(fd)) fdt_dup(fd, rc);
  return rc;
}

/* dup2/dup3 silently close newfd first: that may be the last fd of a written file */
static NOINLINE int dup_onto(int oldfd, int newfd, int flags, int three) {
  struct pending p;
  p.have = 0;
  spool_forget(newfd); /* the program wants this number; the shim reopens its segment later */
  uint32_t e = oldfd != newfd ? fdt_take(newfd) : 0;
  if (e) gather(newfd, e, &p);
  int rc = three ? REAL(dup3)(oldfd, newfd, flags) : REAL(dup2)(oldfd, newfd);
  if (rc < 0) {
    fdt_restore(newfd, e);
    return rc;
  }
  emit(&p);
  if (oldfd != newfd && fdt_peek(oldfd)) fdt_dup(oldfd, newfd);
  return rc;
}

EXPORT int dup2(int oldfd, int newfd) {
  if (!shim_on()) return REAL(dup2)(oldfd, newfd);
  return dup_onto(oldfd, newfd, 0, 0);
}

EXPORT int dup3(int oldfd, int newfd, int flags) {
  if (!shim_on()) return REAL(dup3)(oldfd, newfd, flags);
  return dup_onto(oldfd, newfd, flags, 1);
}

static inline int after_fcntl(int fd, int cmd, int rc) {
  if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && fdt_peek(fd)) {
    int saved = errno;
    fdt_dup(fd, rc);
    errno = saved;
  }
  return rc;
}

EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  return after_fcntl(fd, cmd, REAL(fcntl)(fd, cmd, arg));
}

EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  fcntl64_fn f = REAL(fcntl64);
  return after_fcntl(fd, cmd, f ? f(fd, cmd, arg) : REAL(fcntl)(fd, cmd, arg));
}

static int do_close_range(unsigned first, unsigned last, int flags) {
  close_range_fn f = REAL(close_range);
  if (f) return f(first, last, flags);
  return (int)REAL(syscall)(SYS_close_range, first, last, flags);
}

/* announces tracked fds in [first, last], which are about to be closed together */
static NOINLINE void announce_range(unsigned first, unsigned last) {
  int top = fdt_hwm();
  for (long fd = first; fd <= top && fd <= (long)last; fd++) {
    uint32_t e = fdt_take((int)fd);
    if (!e) continue;
    struct pending p;
    int saved = errno;
    t_busy = 1;
    p.have = ev_gather_close((int)fd, e, (int)first, last > INT_MAX ? INT_MAX : (int)last, &p.r, &p.st, &p.flags);
    t_busy = 0;
    errno = saved;
    emit(&p);
  }
}

/* the spool fds inside [first, last], ascending; returns how many */
static int ours_in(unsigned first, unsigned last, unsigned out[2]) {
  int a = spool_fd(), b = spool_prev_fd(), k = 0, n = 0;
  unsigned c[2];
  if (a >= 0) c[k++] = (unsigned)a;
  if (b >= 0 && b != a) c[k++] = (unsigned)b;
  if (k == 2 && c[0] > c[1]) { unsigned t = c[0]; c[0] = c[1]; c[1] = t; }
  for (int i = 0; i < k; i++)
    if (c[i] >= first && c[i] <= last) out[n++] = c[i];
  return n;
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags) {
  if (!shim_on() || first > last) return do_close_range(first, last, flags);
  int saved = errno;
  if (!(flags & CLOSE_RANGE_CLOEXEC)) announce_range(first, last);
  unsigned ours[2];
  int n = ours_in(first, last, ours);
  errno = saved;
  if (n == 0) {
    int rc = do_close_range(first, last, flags);
    saved = errno;
    spool_fd_event(); /* a segment the shim opened meanwhile may have been in the range */
    errno = saved;
    return rc;
  }
  int rc = 0, err = 0;
  unsigned lo = first;
  for (int i = 0; i < n; i++) {
    if (ours[i] > lo && do_close_range(lo, ours[i] - 1, flags) != 0 && !err) { rc = -1; err = errno; }
    lo = ours[i] + 1;
  }
  if (ours[n - 1] != UINT_MAX && lo <= last && do_close_range(lo, last, flags) != 0 && !err) { rc = -1; err = errno; }
  spool_fd_event();
  errno = rc ? err : saved;
  return rc;
}

EXPORT void closefrom(int lowfd) {
  closefrom_fn real = REAL(closefrom);
  if (!shim_on() || lowfd < 0) { if (real) real(lowfd); return; }
  int saved = errno;
  announce_range((unsigned)lowfd, UINT_MAX);
  unsigned ours[2];
  int n = ours_in((unsigned)lowfd, UINT_MAX, ours);
  if (n == 0) {
    if (real) real(lowfd);
  } else {
    unsigned lo = (unsigned)lowfd;
    for (int i = 0; i < n; i++) {
      if (ours[i] > lo) do_close_range(lo, ours[i] - 1, 0);
      lo = ours[i] + 1;
    }
    if (real) real((int)lo);
    else do_close_range(lo, UINT_MAX, 0);
  }
  spool_fd_event();
  errno = saved;
}
