/* Appends records to the current time bucket's segment with one write() on an O_APPEND fd.
 * The fd is kept at a high number. Its dev/inode are checked with fstat when it is opened, after
 * every event that could have closed or replaced that number (spool_fd_event: the close, dup2,
 * dup3, close_range and closefrom wrappers and raw syscall() forms of them), and at least every
 * VERIFY_NS / VERIFY_RECORDS, so a record never lands in a file the program opened on a number it
 * got back after closing ours, without a system call per record for it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "real.h"

static int g_fd = -1;          /* current segment */
static int g_prev_fd = -1;     /* previous bucket's segment: closed one switch later, so a writer
                                  that checked it just before the switch never writes elsewhere */
static int64_t g_fd_bucket = -1;
static uint64_t g_fd_dev, g_fd_ino, g_prev_dev, g_prev_ino;
static int64_t g_others;       /* bytes in this host's other segments when g_fd was opened */
static int g_switching;
/* identity checks: g_epoch moves on every event that could have closed or replaced a spool fd;
 * g_fd_epoch is the epoch at which g_fd was last verified */
static unsigned g_epoch, g_fd_epoch;
static int64_t g_verified_ns;     /* time_ns of the last fstat of g_fd */
static int64_t g_known_size;      /* g_fd's size at that fstat plus what this process appended since */
static unsigned g_unverified;     /* records appended since that fstat */

#define VERIFY_NS 100000000LL     /* re-check at least every 100 ms ... */
#define VERIFY_RECORDS 256u       /* ... and every 256 records */

#define LD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

int spool_fd(void) { return LD(g_fd); }

void spool_fd_event(void) { __atomic_add_fetch(&g_epoch, 1, __ATOMIC_SEQ_CST); }

/* fork child: a switch another thread had under way at fork time will never finish there */
void spool_after_fork(void) { __atomic_store_n(&g_switching, 0, __ATOMIC_RELEASE); }

int spool_prev_fd(void) { return LD(g_prev_fd); }

int spool_is_ours(int fd) { return fd >= 0 && (fd == LD(g_fd) || fd == LD(g_prev_fd)); }

void spool_forget(int fd) {
  int exp = fd;
  if (fd < 0) return;
  int a = __atomic_compare_exchange_n(&g_fd, &exp, -1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  exp = fd;
  int b = __atomic_compare_exchange_n(&g_prev_fd, &exp, -1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  if (a || b) spool_fd_event();
}

static size_t put_str(char *d, const char *s, size_t n) { memcpy(d, s, n); return n; }

static size_t put_dec(char *d, uint64_t v, int width) {
  char t[24];
  int k = 0;
  do { t[k++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (k < width) t[k++] = '0';
  size_t n = 0;
  while (k) d[n++] = t[--k];
  return n;
}

/* "<dir>/<host><suffix>", NUL-terminated; returns the offset of the file name */
static size_t host_file(char *d, const char *suffix) {
  size_t n = put_str(d, g_cfg.spool_dir, g_cfg.spool_dir_len);
  d[n++] = '/';
  size_t name = n;
  n += put_str(d + n, g_cfg.host, g_cfg.host_len);
  n += put_str(d + n, suffix, strlen(suffix));
  d[n] = 0;
  return name;
}

static size_t segment_path(char *d, int64_t bucket) {
  size_t name = host_file(d, ".");
  size_t n = strlen(d);
  n += put_dec(d + n, (uint64_t)bucket, 12);
  n += put_str(d + n, ".seg", 4);
  d[n] = 0;
  return name;
}

void debug_log(const char *a, const char *b, long num) {
  if (!g_cfg.debug_log) return;
  char line[PATH_MAX + 256];
  size_t n = put_str(line, "hpcmshim[", 9);
  n += put_dec(line + n, (uint64_t)current_pid(), 0);
  n += put_str(line + n, "]: ", 3);
  size_t la = strnlen(a, 128), lb = strnlen(b, PATH_MAX);
  n += put_str(line + n, a, la);
  n += put_str(line + n, b, lb);
  if (num >= 0) { line[n++] = ' '; n += put_dec(line + n, (uint64_t)num, 0); }
  line[n++] = '\n';
  int fd = REAL(open)(g_cfg.debug_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0) return;
  ssize_t w = write(fd, line, n);
  (void)w;
  REAL(close)(fd);
}

/* Size of this host's other segments; only on the slow path (a process's first record, a new
 * bucket), and only when a cap is set. */
static int64_t other_segments_bytes(const char *current_name) {
  char buf[4096];
  int64_t total = 0;
  int dfd = REAL(open)(g_cfg.spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0) return 0;
  for (;;) {
    ssize_t n = getdents64(dfd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
      off += d->d_reclen;
      size_t len = strlen(d->d_name);
      if (len < g_cfg.host_len + 5 || memcmp(d->d_name, g_cfg.host, g_cfg.host_len) != 0 ||
          d->d_name[g_cfg.host_len] != '.' || memcmp(d->d_name + len - 4, ".seg", 4) != 0 ||
          strcmp(d->d_name, current_name) == 0)
        continue;
      struct stat64 st;
      if (fstatat64(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
    }
  }
  REAL(close)(dfd);
  return total;
}

static int high_fd_base(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 4096) return 1000;
  return (int)(rl.rlim_cur * 3 / 4);
}

static int write_record(int fd, const unsigned char *rec, size_t len, int64_t t) {
  ssize_t n;
  do n = write(fd, rec, len); while (n < 0 && errno == EINTR);
  if (n == (ssize_t)len) return 0;
  spool_mark_loss(t);
  return -1;
}

static void close_if_ours(int fd, uint64_t dev, uint64_t ino) {
  struct stat64 st;
  if (fd >= 0 && fstat64(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) REAL(close)(fd);
}

static NOINLINE int append_slow(const unsigned char *rec, size_t len, int64_t t, int64_t bucket) {
  char path[PATH_MAX + 64];
  size_t name = segment_path(path, bucket);
  int fd = REAL(open)(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) { spool_mark_loss(t); return -1; }
  struct stat64 st;
  if (fstat64(fd, &st) != 0 || !S_ISREG(st.st_mode)) { REAL(close)(fd); spool_mark_loss(t); return -1; }
  int64_t others = g_cfg.max_bytes > 0 ? other_segments_bytes(path + name) : 0;
  int rc;
  if (g_cfg.max_bytes > 0 && others + st.st_size + (int64_t)len > g_cfg.max_bytes) {
    spool_mark_loss(t);
    rc = -1;
  } else {
    rc = write_record(fd, rec, len, t);
  }
  /* cache it; if another thread is switching right now, this one just closes its fd */
  if (__atomic_exchange_n(&g_switching, 1, __ATOMIC_ACQUIRE) == 0) {
    unsigned epoch = LD(g_epoch);
    int hfd = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, high_fd_base());
    int keep = hfd >= 0 ? hfd : fd;
    int old = LD(g_fd), prev = LD(g_prev_fd);
    uint64_t odev = LD(g_fd_dev), oino = LD(g_fd_ino), pdev = LD(g_prev_dev), pino = LD(g_prev_ino);
    ST(g_fd, -1);
    ST(g_prev_fd, old);
    ST(g_prev_dev, odev);
    ST(g_prev_ino, oino);
    ST(g_fd_dev, (uint64_t)st.st_dev);
    ST(g_fd_ino, (uint64_t)st.st_ino);
    ST(g_fd_bucket, bucket);
    ST(g_others, others);
    ST(g_known_size, (int64_t)st.st_size + (rc == 0 ? (int64_t)len : 0));
    ST(g_verified_ns, t);
    ST(g_unverified, 0u);
    ST(g_fd_epoch, epoch);
    ST(g_fd, keep);
    if (prev >= 0 && prev != old) close_if_ours(prev, pdev, pino);
    __atomic_store_n(&g_switching, 0, __ATOMIC_RELEASE);
    if (keep == fd) return rc;
  }
  REAL(close)(fd);
  return rc;
}

/* g_fd may be written without an fstat: no fd event since its last check, checked recently, and
 * (with a cap) far enough below the cap that other writers cannot have filled the gap since */
static inline int trusted(int64_t t, size_t len) {
  if (LD(g_fd_epoch) != LD(g_epoch)) return 0;
  if (t - LD(g_verified_ns) >= VERIFY_NS || t < LD(g_verified_ns)) return 0;
  if (__atomic_add_fetch(&g_unverified, 1u, __ATOMIC_RELAXED) >= VERIFY_RECORDS) return 0;
  if (g_cfg.max_bytes > 0 &&
      LD(g_others) + LD(g_known_size) + (int64_t)len + g_cfg.max_bytes / 8 > g_cfg.max_bytes) return 0;
  return 1;
}

int spool_append(const unsigned char *rec, size_t len, int64_t t) {
  int64_t secs = t / 1000000000;
  if (t < 0) secs -= 1;
  int64_t bucket = secs - (secs % g_cfg.bucket_s + g_cfg.bucket_s) % g_cfg.bucket_s;
  int fd = LD(g_fd);
  if (fd >= 0 && LD(g_fd_bucket) == bucket) {
    unsigned epoch = LD(g_epoch);
    if (LIKELY(trusted(t, len))) {
      int rc = write_record(fd, rec, len, t);
      if (rc == 0) __atomic_add_fetch(&g_known_size, (int64_t)len, __ATOMIC_RELAXED);
      return rc;
    }
    struct stat64 st;
    if (fstat64(fd, &st) == 0 && (uint64_t)st.st_ino == LD(g_fd_ino) && (uint64_t)st.st_dev == LD(g_fd_dev)) {
      if (g_cfg.max_bytes > 0 && LD(g_others) + st.st_size + (int64_t)len > g_cfg.max_bytes) {
        spool_mark_loss(t);
        return -1;
      }
      int rc = write_record(fd, rec, len, t);
      if (LD(g_fd) == fd) {
        ST(g_known_size, (int64_t)st.st_size + (rc == 0 ? (int64_t)len : 0));
        ST(g_verified_ns, t);
        ST(g_unverified, 0u);
        ST(g_fd_epoch, epoch);
      }
      return rc;
    }
  }
  return append_slow(rec, len, t, bucket);
}

/* <host>.loss holds the earliest loss time not yet handled by the agent (decimal ns). */
void spool_mark_loss(int64_t t) {
  char path[PATH_MAX + 64], tmp[PATH_MAX + 96], num[32], old[32];
  if (!g_cfg.spool_dir) return;
  int saved = errno;
  host_file(path, ".loss");
  size_t n = put_dec(num, (uint64_t)t, 0);
  int fd = REAL(open)(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd >= 0) {
    ssize_t w = write(fd, num, n);
    (void)w;
    REAL(close)(fd);
    debug_log("spool record lost; loss marker written: ", path, -1);
    errno = saved;
    return;
  }
  if (errno == EEXIST && (fd = REAL(open)(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
    ssize_t r = read(fd, old, sizeof old - 1);
    REAL(close)(fd);
    int64_t prev = 0;
    int valid = r > 0;
    for (ssize_t i = 0; i < r; i++) {
      if (old[i] < '0' || old[i] > '9') { valid = 0; break; }
      prev = prev * 10 + (old[i] - '0');
    }
    if (!valid || prev > t) {
      size_t k = host_file(tmp, ".loss.");
      k = strlen(tmp);
      k += put_dec(tmp + k, (uint64_t)current_pid(), 0);
      k += put_str(tmp + k, ".tmp", 4);
      tmp[k] = 0;
      fd = REAL(open)(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
      if (fd >= 0) {
        ssize_t w = write(fd, num, n);
        REAL(close)(fd);
        if (w == (ssize_t)n) REAL(rename)(tmp, path);
        else REAL(unlink)(tmp);
      }
    }
  }
  errno = saved;
}
