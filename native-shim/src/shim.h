/* Internal declarations shared by the shim's translation units. Nothing here is exported:
 * the library is built with -fvisibility=hidden and a version script (exports.map). */
#ifndef HPCM_SHIM_H
#define HPCM_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>

#define EXPORT __attribute__((visibility("default")))
#define NOINLINE __attribute__((noinline))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TLS __thread __attribute__((tls_model("initial-exec")))

/* record layout: see SPOOL.md */
#define REC_MAGIC 0x524D5048u
#define REC_VERSION 1
#define REC_HDR 96
#define REC_PATH_MAX 4096
#define REC_BUF (REC_HDR + 2 * REC_PATH_MAX + 512)

enum rec_op {
  OP_OPEN_W = 1, OP_CLOSE_W = 2, OP_RENAME = 3, OP_LINK = 4, OP_SYMLINK = 5, OP_UNLINK = 6,
  OP_MKDIR = 7, OP_RMDIR = 8, OP_META = 9, OP_EXIT = 10, OP_CHANGED = 11
};

enum rec_flag {
  RF_STAT = 1u << 0, RF_DIR = 1u << 1, RF_SYMLINK = 1u << 2, RF_EXCHANGE = 1u << 3,
  RF_PATH_OUT = 1u << 4, RF_PATH2_OUT = 1u << 5, RF_UNCHANGED = 1u << 6, RF_NOREPLACE = 1u << 7
};

/* how a path relates to the configured roots and filters */
enum path_class { PC_FAIL = -1, PC_OUT = 0, PC_EXCL = 1, PC_IN = 2 };

/* ---- init / guard (init.c) ---- */
extern TLS int t_busy;        /* set while the shim does its own work on this thread */
extern int g_enabled;         /* 1 once init found a usable configuration */
void shim_init(void);
/* 1 when the calling wrapper should record: not re-entered, initialised and enabled */
static inline int shim_on(void) {
  if (UNLIKELY(t_busy)) return 0;
  if (UNLIKELY(g_enabled < 0)) shim_init();
  return g_enabled > 0;
}

/* ---- configuration (config.c) ---- */
struct shim_config {
  const char *spool_dir; size_t spool_dir_len;
  const char *host; size_t host_len;
  int64_t bucket_s;
  int64_t max_bytes;
  const char *debug_log;
};
extern struct shim_config g_cfg;
int config_load(void);                         /* 1 = enabled, 0 = passive */
int classify(char *path, size_t *len, size_t cap); /* may rewrite a canonical root alias */

/* ---- paths (path-resolve.c, glob-match.c) ---- */
long resolve_at(int dirfd, const char *path, char *out, size_t cap); /* -1: cannot, -2: too long */
long fd_path(int fd, char *out, size_t cap);
int glob_match(const char *pat, size_t plen, const char *s, size_t slen);
struct glob_pattern { const char *s; size_t n; };
/* 1 when the path matches no reject pattern and, if there are accept patterns, one of them */
int globs_take(const struct glob_pattern *accept, int naccept, const struct glob_pattern *reject, int nreject,
               const char *p, size_t len);

/* ---- record building (record.c) ---- */
typedef struct {
  unsigned char b[REC_BUF];
  size_t l1, l2;
} rec_t;
int rec_path1_at(rec_t *r, int dirfd, const char *path);
int rec_path1_fd(rec_t *r, int fd);
int rec_path2_at(rec_t *r, int dirfd, const char *path);
int rec_path2_fd(rec_t *r, int fd);
int rec_path2_raw(rec_t *r, const char *s);
void rec_emit(rec_t *r, int op, uint32_t flags, const struct stat64 *st);
void emit_exit(void);
void note_loss(void);
int64_t now_ns(void);
pid_t current_pid(void);
void record_after_fork(void);
uint32_t crc32_ieee(const unsigned char *p, size_t n);

/* ---- spool segments (spool-writer.c) ---- */
int spool_fd(void);               /* the cached segment fd, or -1 */
int spool_prev_fd(void);          /* the previous bucket's segment fd, or -1 */
int spool_is_ours(int fd);        /* a segment fd the shim holds */
void spool_forget(int fd);          /* the program is about to replace this fd number */
void spool_fd_event(void);          /* something may have closed or replaced a spool fd: re-check it */
void spool_after_fork(void);
int spool_append(const unsigned char *rec, size_t len, int64_t t_ns); /* 0 ok, -1 lost */
void spool_mark_loss(int64_t t_ns);
void debug_log(const char *a, const char *b, long n);

/* ---- per-fd write tracking (fd-table.c) ---- */
#define FDT_TRACKED 0x80000000u
#define FDT_DUPED   0x40000000u
#define FDT_CHECK   0x20000000u   /* opened without O_CREAT/O_TRUNC: compare ctime at close */
#define FDT_ORIGIN  0x1fffffffu
uint32_t fdt_track(int fd, int check, int64_t ctime_ns); /* the entry, 0 if untracked */
uint32_t fdt_take(int fd);
uint32_t fdt_peek(int fd);
void fdt_restore(int fd, uint32_t e);
void fdt_dup(int oldfd, int newfd);
int fdt_has_sibling(uint32_t e, int lo, int hi);
int64_t fdt_ctime(int fd);
int fdt_hwm(void);

/* ---- the path each written open was recorded under (open-paths.c) ---- */
void opath_put(uint32_t origin, const char *path, size_t len);
long opath_get(uint32_t origin, char *out, size_t cap); /* -1: not kept */

/* ---- shared wrapper helpers (events.c) ---- */
void ev_after_open(int fd, int dirfd, const char *path, int flags);
int ev_gather_close(int fd, uint32_t e, int lo, int hi, rec_t *r, struct stat64 *st, uint32_t *flags);
void ev_path_op(int op, int dirfd, const char *path, int empty_ok);
void ev_meta_path(int op, int dirfd, const char *path, int at_flags);
void ev_meta_fd(int op, int fd);
void ev_rename(int olddirfd, const char *oldp, int newdirfd, const char *newp, unsigned flags);
void ev_link(int olddirfd, const char *oldp, int newdirfd, const char *newp, int flags);
void ev_symlink(const char *target, int newdirfd, const char *linkp);

static inline int64_t st_ns(const struct timespec *t) {
  return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

#endif
