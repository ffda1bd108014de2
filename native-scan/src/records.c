/* Encoders of the record stream (README.md "Output"): little endian, length first. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "scan.h"

struct counters g_count;

static inline void put32(char *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(char *p, uint64_t v) { memcpy(p, &v, 8); }

char type_char(mode_t m)
{
    if (S_ISREG(m)) return 'f';
    if (S_ISDIR(m)) return 'd';
    if (S_ISLNK(m)) return 'l';
    return 'o';
}

int64_t ts_ns(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec; }

int64_t now_mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return ts_ns(&t);
}

void rec_entry(struct outbuf *b, const struct entry_info *e)
{
    size_t len = ENTRY_HDR + e->path_len + e->target_len;
    char *p = out_reserve(b, len);
    if (!p) return;
    const struct stat *st = e->st;
    put32(p, (uint32_t)len);
    p[4] = REC_ENTRY;
    p[5] = (char)e->reason;
    p[6] = type_char(st->st_mode);
    p[7] = (char)e->diff;
    put32(p + 8, (uint32_t)st->st_mode);
    put32(p + 12, (uint32_t)st->st_nlink);
    put64(p + 16, (uint64_t)st->st_size);
    put64(p + 24, (uint64_t)ts_ns(&st->st_mtim));
    put64(p + 32, (uint64_t)ts_ns(&st->st_ctim));
    put64(p + 40, (uint64_t)st->st_ino);
    put64(p + 48, (uint64_t)st->st_dev);
    put32(p + 56, (uint32_t)st->st_uid);
    put32(p + 60, (uint32_t)st->st_gid);
    put32(p + 64, (uint32_t)e->path_len);
    put32(p + 68, (uint32_t)e->target_len);
    memcpy(p + ENTRY_HDR, e->path, e->path_len);
    if (e->target_len) memcpy(p + ENTRY_HDR + e->path_len, e->target, e->target_len);
    COUNT_ADD(emitted, 1);
}

void rec_error(struct outbuf *b, enum err_side side, enum err_op op, int err, const char *path, size_t len)
{
    char *p = out_reserve(b, ERROR_HDR + len);
    if (!p) return;
    put32(p, (uint32_t)(ERROR_HDR + len));
    p[4] = REC_ERROR;
    p[5] = (char)side;
    p[6] = (char)op;
    p[7] = 0;
    put32(p + 8, (uint32_t)err);
    put32(p + 12, (uint32_t)len);
    memcpy(p + ERROR_HDR, path, len);
    COUNT_ADD(errors, 1);
}

void rec_progress(uint64_t queued, int64_t elapsed_ns)
{
    char p[PROGRESS_LEN] = {0};
    put32(p, PROGRESS_LEN);
    p[4] = REC_PROGRESS;
    put64(p + 8, COUNT_GET(examined));
    put64(p + 16, COUNT_GET(emitted));
    put64(p + 24, COUNT_GET(dirs));
    put64(p + 32, COUNT_GET(errors));
    put64(p + 40, queued);
    put64(p + 48, (uint64_t)elapsed_ns);
    out_write_direct(p, sizeof p);
}

void rec_end(int64_t elapsed_ns, long maxrss_kb)
{
    char p[END_LEN] = {0};
    put32(p, END_LEN);
    p[4] = REC_END;
    put64(p + 8, COUNT_GET(examined));
    put64(p + 16, COUNT_GET(emitted));
    put64(p + 24, COUNT_GET(dirs));
    put64(p + 32, COUNT_GET(errors));
    put64(p + 40, (uint64_t)elapsed_ns);
    put64(p + 48, (uint64_t)maxrss_kb);
    put64(p + 56, COUNT_GET(skipped_parts));
    put64(p + 64, COUNT_GET(lost_dirs));
    out_write_direct(p, sizeof p);
}

void rec_part_done(const char *key, size_t len, uint64_t examined)
{
    char stackbuf[PART_HDR + 4096];
    char *p = len <= 4096 ? stackbuf : malloc(PART_HDR + len);
    if (!p) return; /* the part is then simply not checkpointed: a resumed run scans it again */
    put32(p, (uint32_t)(PART_HDR + len));
    p[4] = REC_PART_DONE;
    p[5] = p[6] = p[7] = 0;
    put64(p + 8, examined);
    put32(p + 16, (uint32_t)len);
    memcpy(p + PART_HDR, key, len);
    out_write_direct(p, PART_HDR + len);
    if (p != stackbuf) free(p);
}

void rec_dir(struct outbuf *b, int complete, uint64_t entries, const char *path, size_t len)
{
    char *p = out_reserve(b, DIR_HDR + len);
    if (!p) return;
    put32(p, (uint32_t)(DIR_HDR + len));
    p[4] = REC_DIR;
    p[5] = (char)(complete ? 1 : 0);
    p[6] = p[7] = 0;
    put64(p + 8, entries);
    put32(p + 16, (uint32_t)len);
    put32(p + 20, 0);
    memcpy(p + DIR_HDR, path, len);
}
