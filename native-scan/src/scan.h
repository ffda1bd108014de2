/* hpcm-scan: shared types of the parallel tree walker. See ../README.md for the design. */
#ifndef HPCM_SCAN_H
#define HPCM_SCAN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the record stream is written in host order and documented as little endian"
#endif

/* Exit statuses (README.md "Exit status"). */
enum { EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_READER_GONE = 3, EXIT_BAD_ROOT = 4, EXIT_BAD_SKIP = 5 };

enum scan_mode { MODE_LIST = 0, MODE_SINCE = 1, MODE_COMPARE = 2 };

/* Record kinds and entry reasons: the wire format (README.md "Output"). */
enum rec_kind { REC_ENTRY = 1, REC_PROGRESS = 2, REC_PART_DONE = 3, REC_ERROR = 4, REC_END = 5, REC_DIR = 6 };
enum reason { R_LIST = 1, R_SINCE = 2, R_NEW = 3, R_CHANGED = 4, R_EXTRA = 5 };
enum diff_bit { D_TYPE = 1, D_SIZE = 2, D_MTIME = 4, D_MODE = 8, D_TARGET = 16, D_OWNER = 32 };
enum err_side { SIDE_SRC = 0, SIDE_DST = 1 };
enum err_op { OP_OPEN = 1, OP_READ = 2, OP_STAT = 3, OP_READLINK = 4 };

#define ENTRY_HDR 72u
#define PROGRESS_LEN 56u
#define PART_HDR 20u
#define ERROR_HDR 16u
#define END_LEN 72u
#define DIR_HDR 24u

struct scan_config {
    const char *src_root;
    const char *dst_root;
    enum scan_mode mode;
    int64_t since_ns;
    int64_t mtime_tol_ns;
    int threads;
    int one_fs;
    int part_depth;
    int dir_times;
    int owner;
    int dir_records; /* list mode: a DIR record after each directory's entries */
    int progress_ms;
    const char *skip_parts_file;
    const char **excludes;
    int n_excludes;
    size_t queue_mem_items;
};

/* A directory waiting to be read. `path` is relative to the roots, "" for the roots themselves. */
struct dir_item {
    struct dir_item *next;
    uint32_t part;      /* index in the part table, PART_NONE when its part was done in a previous run */
    uint16_t depth;
    uint8_t dst_missing; /* the parent saw no directory of that name on the destination */
    uint8_t emit;       /* 0: part already done in a previous run, only descend */
    uint32_t len;
    char path[];
};
#define PART_NONE UINT32_MAX

/* --- output.c: per-thread buffers flushed to stdout in large blocks under one lock --- */
struct outbuf {
    char *data;
    size_t len;
    size_t cap;
    uint64_t flushes; /* blocks written so far: records reserved before flush n are out once flushes > n */
};
void out_init(size_t block);
int out_buf_init(struct outbuf *b);
void out_flush(struct outbuf *b);
void out_write_direct(const void *rec, size_t len);
char *out_reserve(struct outbuf *b, size_t len);

/* --- counters.c: totals shared by the workers and the progress thread --- */
struct counters {
    uint64_t examined;
    uint64_t emitted;
    uint64_t dirs;
    uint64_t errors;
    uint64_t skipped_parts;
    uint64_t lost_dirs; /* queued directories that could not be read back from the spill file */
};
extern struct counters g_count;
#define COUNT_ADD(field, n) __atomic_fetch_add(&g_count.field, (n), __ATOMIC_RELAXED)
#define COUNT_GET(field) __atomic_load_n(&g_count.field, __ATOMIC_RELAXED)

/* --- work-queue.c: LIFO of directories, spilled to an unlinked temp file above a bound --- */
int queue_init(size_t mem_items);
void queue_push(struct dir_item *it);
struct dir_item *queue_pop(int wait); /* NULL: nothing now (wait=0) or the walk is over (wait=1) */
void queue_done(void);
uint64_t queue_length(void);

/* --- parts.c: checkpoint units and the skip set of parts done in a previous run --- */
int parts_init(const char *skip_file, int part_depth);
uint32_t part_new(const char *key, size_t len);
void part_add_pending(uint32_t part);
void part_add_examined(uint32_t part, uint64_t n);
/* Returns 1 when the part just became complete; writes its PART_DONE record itself. */
int part_finish_one(uint32_t part);
int parts_skip(const char *key, size_t len);

/* --- open-beneath.c --- */
int open_dir_beneath(int rootfd, const char *rel, size_t len);

/* --- exclude.c --- */
int is_excluded(const struct scan_config *cfg, const char *name, const char *rel);

/* --- records.c: encoders --- */
struct entry_info {
    const struct stat *st;
    enum reason reason;
    uint8_t diff;
    const char *path;
    size_t path_len;
    const char *target;
    size_t target_len;
};
void rec_entry(struct outbuf *b, const struct entry_info *e);
void rec_error(struct outbuf *b, enum err_side side, enum err_op op, int err, const char *path, size_t len);
void rec_progress(uint64_t queued, int64_t elapsed_ns);
void rec_end(int64_t elapsed_ns, long maxrss_kb);
void rec_part_done(const char *key, size_t len, uint64_t examined);
void rec_dir(struct outbuf *b, int complete, uint64_t entries, const char *path, size_t len);

/* --- walker.c --- */
int walk_run(const struct scan_config *cfg);

/* --- dir-entries.c: getdents64 reading --- */
struct name_list {
    char *arena;      /* NUL-terminated names back to back */
    size_t arena_len, arena_cap;
    struct name_ref { uint32_t off; uint16_t len; uint8_t dtype; uint8_t pad; } *refs;
    size_t n, cap;
};
int read_all_names(int fd, char *gbuf, size_t gbuf_size, struct name_list *out);
void sort_names(struct name_list *l);
/* A callback returning non-zero stops the listing with -1 (errno set by the callback). */
typedef int (*name_cb)(void *ctx, const char *name, size_t len, unsigned char dtype);
int for_each_name(int fd, char *gbuf, size_t gbuf_size, name_cb cb, void *ctx);

char type_char(mode_t m);
int64_t ts_ns(const struct timespec *t);
int64_t now_mono_ns(void);

#endif
