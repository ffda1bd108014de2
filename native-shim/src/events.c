/* What each kind of intercepted call records. Every helper runs after the real call succeeded,
 * with errno saved by the caller or here, and never fails the program. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include "real.h"

#define RECENT_NS 100000000LL /* ctime this fresh may hide a write within the same clock tick */

void ev_after_open(int fd, int dirfd, const char *path, int flags) {
  int tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
  if ((flags & O_PATH) || (!tmpfile && (flags & O_DIRECTORY))) return;
  int saved = errno;
  t_busy = 1;
  rec_t r;
  struct stat64 st;
  int c = rec_path1_at(&r, dirfd, path);
  if (c == PC_FAIL) note_loss();
  if (c == PC_IN) {
    if (tmpfile) {
      fdt_track(fd, 0, 0); /* announced when linked (linkat) or closed under a name */
    } else if (flags & (O_CREAT | O_TRUNC)) {
      uint32_t e = fdt_track(fd, 0, 0); /* a FIFO or device opened this way is filtered out at close */
      if (e) opath_put(e & FDT_ORIGIN, (const char *)r.b + REC_HDR, r.l1);
      rec_emit(&r, OP_OPEN_W, 0, NULL);
    } else if (fstat64(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      int64_t ct = st_ns(&st.st_ctim);
      uint32_t e = fdt_track(fd, ct < now_ns() - RECENT_NS, ct);
      if (e) opath_put(e & FDT_ORIGIN, (const char *)r.b + REC_HDR, r.l1);
      rec_emit(&r, OP_OPEN_W, 0, NULL);
    }
  }
  t_busy = 0;
  errno = saved;
}

/* The name the open was recorded under, when it still is a name of that file (same dev/inode, by an
 * lstat: cheaper than the readlink of /proc/self/fd/N, which stays the fallback after a rename or
 * an unlink of that name, or of a directory above it, by anyone). Put in r's first path. */
static int path_still_names(uint32_t origin, rec_t *r, const struct stat64 *st) {
  char *p = (char *)r->b + REC_HDR;
  long n = opath_get(origin, p, REC_PATH_MAX);
  if (n <= 0) return 0;
  struct stat64 now;
  p[n] = 0;
  if (lstat64(p, &now) != 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) return 0;
  r->l1 = (size_t)n;
  r->l2 = 0;
  return 1;
}

/* Collects the CLOSE_W of fd (taken from the table as e) before the real close; 0 = nothing to
 * record. lo..hi: fds closed together with it (not counted as surviving duplicates). */
int ev_gather_close(int fd, uint32_t e, int lo, int hi, rec_t *r, struct stat64 *st, uint32_t *flags) {
  *flags = 0;
  if ((e & FDT_DUPED) && fdt_has_sibling(e, lo, hi)) return 0;
  if (fstat64(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_nlink == 0) return 0;
  if (path_still_names(e & FDT_ORIGIN, r, st)) {
    if ((e & FDT_CHECK) && st_ns(&st->st_ctim) == fdt_ctime(fd)) *flags |= RF_UNCHANGED;
    return 1;
  }
  int c = rec_path1_fd(r, fd);
  if (c == PC_FAIL) { note_loss(); return 0; }
  if (c != PC_IN) return 0;
  if ((e & FDT_CHECK) && st_ns(&st->st_ctim) == fdt_ctime(fd)) *flags |= RF_UNCHANGED;
  return 1;
}

void ev_path_op(int op, int dirfd, const char *path, int unused) {
  (void)unused;
  int saved = errno;
  t_busy = 1;
  rec_t r;
  int c = rec_path1_at(&r, dirfd, path);
  if (c == PC_FAIL) note_loss();
  else if (c == PC_IN) rec_emit(&r, op, op == OP_MKDIR || op == OP_RMDIR ? RF_DIR : 0, NULL);
  t_busy = 0;
  errno = saved;
}

void ev_meta_path(int op, int dirfd, const char *path, int at_flags) {
  int saved = errno;
  t_busy = 1;
  rec_t r;
  struct stat64 st;
  int c;
  if (!path || (!*path && (at_flags & AT_EMPTY_PATH))) {
    c = rec_path1_fd(&r, dirfd);
    path = "";
    at_flags |= AT_EMPTY_PATH;
  } else {
    c = rec_path1_at(&r, dirfd, path);
    /* chmod, truncate, utimes... through a symlink changed the file it points to, not the link:
     * record that file, by the kernel's name for it (an O_PATH fd), wherever the link lives. */
    if (!(at_flags & AT_SYMLINK_NOFOLLOW) && fstatat64(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      int fd = REAL(openat)(dirfd, path, O_PATH | O_CLOEXEC);
      if (fd >= 0) {
        c = rec_path1_fd(&r, fd);
        if (c == PC_IN) rec_emit(&r, op, 0, fstat64(fd, &st) == 0 ? &st : NULL);
        REAL(close)(fd);
        if (c == PC_FAIL) note_loss();
        t_busy = 0;
        errno = saved;
        return;
      }
    }
  }
  if (c == PC_FAIL) note_loss();
  if (c == PC_IN) {
    int have = fstatat64(dirfd, path, &st, at_flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) == 0;
    rec_emit(&r, op, 0, have ? &st : NULL);
  }
  t_busy = 0;
  errno = saved;
}

void ev_meta_fd(int op, int fd) {
  if (fdt_peek(fd)) return; /* open for writing under a root: its close will announce it */
  int saved = errno;
  t_busy = 1;
  struct stat64 st;
  if (fstat64(fd, &st) == 0 && (S_ISREG(st.st_mode) || (op == OP_META && S_ISDIR(st.st_mode)))) {
    rec_t r;
    int c = rec_path1_fd(&r, fd);
    if (c == PC_FAIL) note_loss();
    else if (c == PC_IN) rec_emit(&r, op, 0, &st);
  }
  t_busy = 0;
  errno = saved;
}

void ev_rename(int olddirfd, const char *oldp, int newdirfd, const char *newp, unsigned flags) {
  int saved = errno;
  t_busy = 1;
  rec_t r;
  int cn = rec_path1_at(&r, newdirfd, newp);
  int co = cn == PC_FAIL ? PC_FAIL : rec_path2_at(&r, olddirfd, oldp);
  if (cn == PC_FAIL || co == PC_FAIL) {
    note_loss();
  } else if (cn == PC_IN || co == PC_IN) {
    uint32_t f = 0;
    if (cn != PC_IN) f |= RF_PATH_OUT;
    if (co != PC_IN) f |= RF_PATH2_OUT;
    if (flags & RENAME_EXCHANGE) f |= RF_EXCHANGE;
    if (flags & RENAME_NOREPLACE) f |= RF_NOREPLACE;
    struct stat64 st;
    int have = fstatat64(newdirfd, newp, &st, AT_SYMLINK_NOFOLLOW) == 0;
    rec_emit(&r, OP_RENAME, f, have ? &st : NULL);
  }
  t_busy = 0;
  errno = saved;
}

static int proc_self_fd(const char *p) {
  static const char pre[] = "/proc/self/fd/";
  if (!p || strncmp(p, pre, sizeof pre - 1) != 0) return -1;
  const char *d = p + sizeof pre - 1;
  int n = 0;
  if (!*d) return -1;
  for (; *d; d++) {
    if (*d < '0' || *d > '9' || n > 100000000) return -1;
    n = n * 10 + (*d - '0');
  }
  return n;
}

void ev_link(int olddirfd, const char *oldp, int newdirfd, const char *newp, int flags) {
  int saved = errno;
  t_busy = 1;
  rec_t r;
  struct stat64 st;
  int cn = rec_path1_at(&r, newdirfd, newp);
  if (cn == PC_FAIL) note_loss();
  if (cn == PC_IN) {
    int have = fstatat64(newdirfd, newp, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (have && S_ISREG(st.st_mode) && st.st_nlink == 1) {
      /* an anonymous (O_TMPFILE) file got its first name: new content at that name */
      rec_emit(&r, OP_CHANGED, 0, &st);
    } else {
      int co, pfd;
      if ((flags & AT_EMPTY_PATH) && oldp && !*oldp) co = rec_path2_fd(&r, olddirfd);
      else if ((flags & AT_SYMLINK_FOLLOW) && (pfd = proc_self_fd(oldp)) >= 0) co = rec_path2_fd(&r, pfd);
      else co = rec_path2_at(&r, olddirfd, oldp);
      if (co == PC_FAIL) r.l2 = 0; /* existing name unknown: the agent treats it as outside */
      rec_emit(&r, OP_LINK, co == PC_IN ? 0 : RF_PATH2_OUT, have ? &st : NULL);
    }
  }
  t_busy = 0;
  errno = saved;
}

void ev_symlink(const char *target, int newdirfd, const char *linkp) {
  int saved = errno;
  t_busy = 1;
  rec_t r;
  int c = rec_path1_at(&r, newdirfd, linkp);
  if (c == PC_IN && target) c = rec_path2_raw(&r, target);
  if (c == PC_FAIL) {
    note_loss();
  } else if (c == PC_IN) {
    struct stat64 st;
    int have = fstatat64(newdirfd, linkp, &st, AT_SYMLINK_NOFOLLOW) == 0;
    rec_emit(&r, OP_SYMLINK, RF_SYMLINK, have ? &st : NULL);
  }
  t_busy = 0;
  errno = saved;
}
