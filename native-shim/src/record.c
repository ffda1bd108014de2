/* Builds framed records (layout in SPOOL.md) in a caller-provided buffer and appends them. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "real.h"

static uint32_t g_crc_table[256];
static int g_crc_ready;
static pid_t g_owner_pid;        /* this process (cached; reset in a fork child) */
static uint64_t g_seq;
static pid_t g_exit_pid;         /* EXIT already written for this pid */

uint32_t crc32_ieee(const unsigned char *p, size_t n) {
  if (UNLIKELY(!__atomic_load_n(&g_crc_ready, __ATOMIC_ACQUIRE))) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      g_crc_table[i] = c;
    }
    __atomic_store_n(&g_crc_ready, 1, __ATOMIC_RELEASE);
  }
  uint32_t c = 0xFFFFFFFFu;
  while (n--) c = g_crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return st_ns(&t);
}

static pid_t raw_getpid(void) {
  return (pid_t)REAL(syscall)(SYS_getpid);
}

/* glibc no longer caches the pid: the shim does, refreshed in the fork child (pthread_atfork) */
pid_t current_pid(void) {
  pid_t p = __atomic_load_n(&g_owner_pid, __ATOMIC_RELAXED);
  if (UNLIKELY(p == 0)) {
    p = raw_getpid();
    __atomic_store_n(&g_owner_pid, p, __ATOMIC_RELAXED);
  }
  return p;
}

void record_after_fork(void) {
  __atomic_store_n(&g_owner_pid, raw_getpid(), __ATOMIC_RELAXED);
  __atomic_store_n(&g_seq, 0, __ATOMIC_RELAXED);
  spool_after_fork();
}

static void put16(unsigned char *d, uint16_t v) { d[0] = (unsigned char)v; d[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *d, uint32_t v) { for (int i = 0; i < 4; i++) d[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *d, uint64_t v) { for (int i = 0; i < 8; i++) d[i] = (unsigned char)(v >> (8 * i)); }

void note_loss(void) {
  spool_mark_loss(now_ns());
}

static int finish_path(char *p, long n, size_t *out_len, size_t cap) {
  if (n == -2) return PC_FAIL;
  if (n < 0) return PC_OUT;   /* no path (pipe, socket, deleted): nothing to announce */
  size_t len = (size_t)n;
  int c = classify(p, &len, cap);
  if (c == PC_FAIL || len > REC_PATH_MAX) return PC_FAIL;
  *out_len = len;
  return c;
}

int rec_path1_at(rec_t *r, int dirfd, const char *path) {
  char *p = (char *)r->b + REC_HDR;
  size_t cap = REC_BUF - REC_HDR;
  r->l1 = r->l2 = 0;
  return finish_path(p, resolve_at(dirfd, path, p, cap), &r->l1, cap);
}

int rec_path1_fd(rec_t *r, int fd) {
  char *p = (char *)r->b + REC_HDR;
  size_t cap = REC_BUF - REC_HDR;
  r->l1 = r->l2 = 0;
  return finish_path(p, fd_path(fd, p, cap), &r->l1, cap);
}

int rec_path2_at(rec_t *r, int dirfd, const char *path) {
  char *p = (char *)r->b + REC_HDR + r->l1;
  size_t cap = REC_BUF - REC_HDR - r->l1;
  r->l2 = 0;
  return finish_path(p, resolve_at(dirfd, path, p, cap), &r->l2, cap);
}

int rec_path2_fd(rec_t *r, int fd) {
  char *p = (char *)r->b + REC_HDR + r->l1;
  size_t cap = REC_BUF - REC_HDR - r->l1;
  r->l2 = 0;
  return finish_path(p, fd_path(fd, p, cap), &r->l2, cap);
}

int rec_path2_raw(rec_t *r, const char *s) {
  size_t n = strlen(s);
  if (n > REC_PATH_MAX) return PC_FAIL;
  memcpy(r->b + REC_HDR + r->l1, s, n);
  r->l2 = n;
  return PC_IN;
}

void rec_emit(rec_t *r, int op, uint32_t flags, const struct stat64 *st) {
  unsigned char *b = r->b;
  size_t len = REC_HDR + r->l1 + r->l2;
  int64_t t = now_ns();
  pid_t pid = current_pid();
  uint64_t seq = __atomic_add_fetch(&g_seq, 1, __ATOMIC_RELAXED);
  memset(b, 0, REC_HDR);
  put32(b + 0, REC_MAGIC);
  put32(b + 4, (uint32_t)len);
  put16(b + 12, REC_VERSION);
  put16(b + 14, (uint16_t)op);
  put64(b + 16, seq);
  put32(b + 24, (uint32_t)pid);
  if (st) {
    flags |= RF_STAT;
    if (S_ISDIR(st->st_mode)) flags |= RF_DIR;
    if (S_ISLNK(st->st_mode)) flags |= RF_SYMLINK;
    put64(b + 40, (uint64_t)st->st_size);
    put64(b + 48, (uint64_t)st_ns(&st->st_mtim));
    put64(b + 56, (uint64_t)st_ns(&st->st_ctim));
    put64(b + 64, (uint64_t)st->st_ino);
    put64(b + 72, (uint64_t)st->st_dev);
    put32(b + 80, (uint32_t)st->st_mode);
    put32(b + 84, (uint32_t)st->st_nlink);
  }
  put32(b + 28, flags);
  put64(b + 32, (uint64_t)t);
  put16(b + 88, (uint16_t)r->l1);
  put16(b + 90, (uint16_t)r->l2);
  put32(b + 8, crc32_ieee(b + 12, len - 12));
  spool_append(b, len, t);
}

void emit_exit(void) {
  int saved = errno;
  int was = t_busy;
  t_busy = 1;
  pid_t pid = raw_getpid(); /* exact even in a vfork child, whose memory (and cached pid) is the parent's */
  if (__atomic_exchange_n(&g_exit_pid, pid, __ATOMIC_RELAXED) != pid) {
    unsigned char b[REC_HDR]; /* EXIT carries no path: a small frame, safe on tiny stacks */
    int64_t t = now_ns();
    /* a vfork/clone child must not advance its parent's sequence */
    uint64_t seq = current_pid() == pid ? __atomic_add_fetch(&g_seq, 1, __ATOMIC_RELAXED) : 0;
    memset(b, 0, REC_HDR);
    put32(b + 0, REC_MAGIC);
    put32(b + 4, REC_HDR);
    put16(b + 12, REC_VERSION);
    put16(b + 14, OP_EXIT);
    put64(b + 16, seq);
    put32(b + 24, (uint32_t)pid);
    put64(b + 32, (uint64_t)t);
    put32(b + 8, crc32_ieee(b + 12, REC_HDR - 12));
    spool_append(b, REC_HDR, t);
  }
  t_busy = was;
  errno = saved;
}
