/* The walk: N workers take directories from the shared queue, read them with getdents64, lstat
 * every entry relative to the directory fd (fstatat, AT_SYMLINK_NOFOLLOW) and push subdirectories
 * back. In compare mode the same directory of the destination is read alongside and the two sorted
 * listings are merged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "scan.h"

#define GETDENTS_BUF (128 * 1024)
#define COUNT_BATCH 1024
#define FLUSH_EVERY_NS 1000000000LL

struct worker {
    const struct scan_config *cfg;
    pthread_t tid;
    struct outbuf out;
    char *gbuf;
    char *path; /* the child's relative path is built here */
    size_t path_cap;
    struct name_list src, dst;
    struct held { uint32_t part; uint64_t gen; } *held; /* directories whose records may still sit in `out` */
    size_t n_held, cap_held;
    int64_t last_flush;
    int failed;
};

/* Per directory being read. */
struct dir_ctx {
    struct worker *w;
    struct dir_item *it;
    int sfd;
    enum reason reason; /* R_LIST, R_SINCE or R_NEW for streamed directories */
    int emit;
    int child_dst_missing; /* streamed compare: the destination has no such directory */
    uint64_t examined, unreported;
    uint64_t records;
};

static int g_src_fd = -1, g_dst_fd = -1;
static dev_t g_src_dev;

/* Releases the held directories whose records have been written (a block flushed since). */
static void release_written(struct worker *w)
{
    size_t n = 0;
    while (n < w->n_held && w->held[n].gen < w->out.flushes) part_finish_one(w->held[n++].part);
    if (n == 0) return;
    memmove(w->held, w->held + n, (w->n_held - n) * sizeof *w->held);
    w->n_held -= n;
}

static void worker_flush(struct worker *w)
{
    out_flush(&w->out);
    release_written(w);
    w->last_flush = now_mono_ns();
}

/* A directory is done for its part only once its records are on stdout. */
static void dir_finished(struct worker *w, uint32_t part, uint64_t records)
{
    if (records == 0 || part == PART_NONE) {
        part_finish_one(part);
    } else {
        if (w->n_held == w->cap_held) {
            size_t cap = w->cap_held ? w->cap_held * 2 : 256;
            struct held *h = realloc(w->held, cap * sizeof *h);
            if (!h) {
                worker_flush(w);
                part_finish_one(part);
                return;
            }
            w->held = h;
            w->cap_held = cap;
        }
        /* Its last record is in the current block: out once that block is flushed. */
        w->held[w->n_held++] = (struct held){ part, w->out.len > 0 ? w->out.flushes : 0 };
    }
    if (w->out.len > 0 && now_mono_ns() - w->last_flush > FLUSH_EVERY_NS) worker_flush(w);
    else release_written(w);
}

/* Builds parent/name into w->path; returns its length or -1 without memory. */
static long child_path(struct worker *w, const struct dir_item *parent, const char *name, size_t len)
{
    size_t need = parent->len + 1 + len + 1;
    if (need > w->path_cap) {
        size_t cap = w->path_cap * 2;
        while (cap < need) cap *= 2;
        char *p = realloc(w->path, cap);
        if (!p) return -1;
        w->path = p;
        w->path_cap = cap;
    }
    size_t n = 0;
    if (parent->len) {
        memcpy(w->path, parent->path, parent->len);
        w->path[parent->len] = '/';
        n = parent->len + 1;
    }
    memcpy(w->path + n, name, len);
    n += len;
    w->path[n] = 0;
    return (long)n;
}

static void push_child(struct worker *w, const struct dir_item *parent, const char *rel, size_t len, int dst_missing)
{
    const struct scan_config *cfg = w->cfg;
    uint16_t depth = (uint16_t)(parent->depth + 1);
    uint32_t part;
    uint8_t emit = 1;
    if (depth <= cfg->part_depth) {
        if (parts_skip(rel, len)) {
            COUNT_ADD(skipped_parts, 1);
            if (depth == cfg->part_depth) return;
            part = PART_NONE;
            emit = 0;
        } else {
            part = part_new(rel, len);
        }
    } else {
        part = parent->part;
        part_add_pending(part);
    }
    struct dir_item *it = malloc(sizeof *it + len + 1);
    if (!it) {
        rec_error(&w->out, SIDE_SRC, OP_OPEN, ENOMEM, rel, len);
        part_finish_one(part);
        return;
    }
    it->next = NULL;
    it->part = part;
    it->depth = depth;
    it->dst_missing = (uint8_t)dst_missing;
    it->emit = emit;
    it->len = (uint32_t)len;
    memcpy(it->path, rel, len + 1);
    queue_push(it);
}

static void emit_entry(struct dir_ctx *c, int dirfd, const char *name, const struct stat *st, enum reason reason,
                       uint8_t diff, const char *rel, size_t rel_len)
{
    char target[4096];
    ssize_t tlen = 0;
    if (S_ISLNK(st->st_mode) && reason != R_EXTRA) {
        tlen = readlinkat(dirfd, name, target, sizeof target);
        if (tlen < 0) {
            if (errno != ENOENT) rec_error(&c->w->out, SIDE_SRC, OP_READLINK, errno, rel, rel_len);
            tlen = 0;
        }
    }
    struct entry_info e = { st, reason, diff, rel, rel_len, target, (size_t)tlen };
    rec_entry(&c->w->out, &e);
    c->records++;
}

static void count_examined(struct dir_ctx *c)
{
    /* A directory of a part finished in an earlier run is only read to find its subdirectories. */
    if (!c->it->emit) return;
    c->examined++;
    if (++c->unreported >= COUNT_BATCH) {
        COUNT_ADD(examined, c->unreported);
        c->unreported = 0;
    }
}

static int wants(const struct scan_config *cfg, const struct stat *st)
{
    if (cfg->mode != MODE_SINCE) return 1;
    return ts_ns(&st->st_ctim) >= cfg->since_ns || ts_ns(&st->st_mtim) >= cfg->since_ns;
}

static int descend_ok(const struct scan_config *cfg, const struct stat *st)
{
    return S_ISDIR(st->st_mode) && (!cfg->one_fs || st->st_dev == g_src_dev);
}

/* List, since, and compare below a missing destination directory: one pass, no sorting. */
static int stream_one(void *ctx, const char *name, size_t len, unsigned char dtype)
{
    (void)dtype;
    struct dir_ctx *c = ctx;
    struct worker *w = c->w;
    long rl = child_path(w, c->it, name, len);
    if (rl < 0) {
        errno = ENOMEM;
        return -1;
    }
    if (w->cfg->n_excludes && is_excluded(w->cfg, name, w->path)) return 0;
    struct stat st;
    if (fstatat(c->sfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
            rec_error(&w->out, SIDE_SRC, OP_STAT, errno, w->path, (size_t)rl);
            c->records++;
        }
        return 0;
    }
    count_examined(c);
    if (descend_ok(w->cfg, &st)) push_child(w, c->it, w->path, (size_t)rl, c->child_dst_missing);
    if (c->emit && wants(w->cfg, &st)) emit_entry(c, c->sfd, name, &st, c->reason, 0, w->path, (size_t)rl);
    return 0;
}

static uint8_t differences(const struct scan_config *cfg, const struct stat *s, const struct stat *d, int sfd, int dfd,
                           const char *name)
{
    if ((s->st_mode & S_IFMT) != (d->st_mode & S_IFMT)) return D_TYPE;
    uint8_t diff = 0;
    int64_t dm = ts_ns(&s->st_mtim) - ts_ns(&d->st_mtim);
    if (dm < 0) dm = -dm;
    if (S_ISREG(s->st_mode)) {
        if (s->st_size != d->st_size) diff |= D_SIZE;
        if (dm > cfg->mtime_tol_ns) diff |= D_MTIME;
    } else if (S_ISDIR(s->st_mode) && cfg->dir_times && dm > cfg->mtime_tol_ns) {
        diff |= D_MTIME;
    }
    if (S_ISLNK(s->st_mode)) {
        if (s->st_size != d->st_size) {
            diff |= D_TARGET;
        } else {
            char a[4096], b[4096];
            ssize_t na = readlinkat(sfd, name, a, sizeof a);
            ssize_t nb = readlinkat(dfd, name, b, sizeof b);
            if (na != nb || na < 0 || memcmp(a, b, (size_t)na) != 0) diff |= D_TARGET;
        }
    } else if ((s->st_mode & 07777) != (d->st_mode & 07777)) {
        diff |= D_MODE;
    }
    if (cfg->owner && (s->st_uid != d->st_uid || s->st_gid != d->st_gid)) diff |= D_OWNER;
    return diff;
}

static void compare_sorted(struct dir_ctx *c, int dfd)
{
    struct worker *w = c->w;
    const struct scan_config *cfg = w->cfg;
    struct name_list *S = &w->src, *D = &w->dst;
    size_t i = 0, j = 0;
    while (i < S->n || j < D->n) {
        const char *sn = i < S->n ? S->arena + S->refs[i].off : NULL;
        const char *dn = j < D->n ? D->arena + D->refs[j].off : NULL;
        int cmp = !sn ? 1 : !dn ? -1 : strcmp(sn, dn);
        const char *name = cmp <= 0 ? sn : dn;
        size_t nlen = cmp <= 0 ? S->refs[i].len : D->refs[j].len;
        if (cmp <= 0) i++;
        if (cmp >= 0) j++;
        long rl = child_path(w, c->it, name, nlen);
        if (rl < 0) {
            rec_error(&w->out, SIDE_SRC, OP_READ, ENOMEM, c->it->path, c->it->len);
            c->records++;
            return;
        }
        if (cfg->n_excludes && is_excluded(cfg, name, w->path)) continue;
        struct stat ss, ds;
        if (cmp > 0) {
            /* Only on the destination. */
            if (!c->emit) continue;
            if (fstatat(dfd, name, &ds, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno != ENOENT) {
                    rec_error(&w->out, SIDE_DST, OP_STAT, errno, w->path, (size_t)rl);
                    c->records++;
                }
                continue;
            }
            emit_entry(c, dfd, name, &ds, R_EXTRA, 0, w->path, (size_t)rl);
            continue;
        }
        if (fstatat(c->sfd, name, &ss, AT_SYMLINK_NOFOLLOW) != 0) {
            /* Vanished since the listing: its removal is announced by whoever removed it. */
            if (errno != ENOENT) {
                rec_error(&w->out, SIDE_SRC, OP_STAT, errno, w->path, (size_t)rl);
                c->records++;
            }
            continue;
        }
        count_examined(c);
        int on_dst = cmp == 0;
        if (on_dst && fstatat(dfd, name, &ds, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) {
                rec_error(&w->out, SIDE_DST, OP_STAT, errno, w->path, (size_t)rl);
                c->records++;
                if (descend_ok(cfg, &ss)) push_child(w, c->it, w->path, (size_t)rl, 0);
                continue;
            }
            on_dst = 0;
        }
        if (descend_ok(cfg, &ss)) push_child(w, c->it, w->path, (size_t)rl, !on_dst || !S_ISDIR(ds.st_mode));
        if (!c->emit) continue;
        if (!on_dst) {
            emit_entry(c, c->sfd, name, &ss, R_NEW, 0, w->path, (size_t)rl);
            continue;
        }
        uint8_t diff = differences(cfg, &ss, &ds, c->sfd, dfd, name);
        if (diff) emit_entry(c, c->sfd, name, &ss, R_CHANGED, diff, w->path, (size_t)rl);
    }
}

static int dst_absent(int err) { return err == ENOENT || err == ENOTDIR || err == ELOOP; }

static void compare_dir(struct dir_ctx *c)
{
    struct worker *w = c->w;
    struct dir_item *it = c->it;
    int dfd = -1;
    if (!it->dst_missing) {
        dfd = open_dir_beneath(g_dst_fd, it->path, it->len);
        if (dfd < 0 && !dst_absent(errno)) {
            /* Cannot tell what differs here: say so, announce nothing, still walk below. */
            rec_error(&w->out, SIDE_DST, OP_OPEN, errno, it->path, it->len);
            c->records++;
            c->emit = 0;
            c->reason = R_NEW;
            c->child_dst_missing = 0;
            for_each_name(c->sfd, w->gbuf, GETDENTS_BUF, stream_one, c);
            /* Children try the destination themselves. */
            return;
        }
    }
    if (dfd < 0) {
        c->reason = R_NEW;
        c->child_dst_missing = 1;
        if (for_each_name(c->sfd, w->gbuf, GETDENTS_BUF, stream_one, c) != 0) {
            rec_error(&w->out, SIDE_SRC, OP_READ, errno, it->path, it->len);
            c->records++;
        }
        return;
    }
    if (read_all_names(c->sfd, w->gbuf, GETDENTS_BUF, &w->src) != 0) {
        /* A partial source listing would make destination entries look extra. */
        rec_error(&w->out, SIDE_SRC, OP_READ, errno, it->path, it->len);
        c->records++;
        c->emit = 0;
    }
    if (read_all_names(dfd, w->gbuf, GETDENTS_BUF, &w->dst) != 0) {
        rec_error(&w->out, SIDE_DST, OP_READ, errno, it->path, it->len);
        c->records++;
        c->emit = 0;
    }
    sort_names(&w->src);
    sort_names(&w->dst);
    compare_sorted(c, dfd);
    close(dfd);
}

static void process_dir(struct worker *w, struct dir_item *it)
{
    const struct scan_config *cfg = w->cfg;
    struct dir_ctx c = { w, it, -1, cfg->mode == MODE_SINCE ? R_SINCE : R_LIST, it->emit, 0, 0, 0, 0 };
    c.sfd = open_dir_beneath(g_src_fd, it->path, it->len);
    if (c.sfd < 0) {
        /* ENOENT: removed since its parent was read; the removal is announced on its own. */
        if (errno != ENOENT) {
            rec_error(&w->out, SIDE_SRC, OP_OPEN, errno, it->path, it->len);
            c.records++;
        }
    } else {
        int complete = 1;
        if (cfg->mode == MODE_COMPARE) {
            compare_dir(&c);
        } else if (for_each_name(c.sfd, w->gbuf, GETDENTS_BUF, stream_one, &c) != 0) {
            rec_error(&w->out, SIDE_SRC, OP_READ, errno, it->path, it->len);
            c.records++;
            complete = 0;
        }
        close(c.sfd);
        if (cfg->dir_records && it->emit) {
            /* After the directory's entries in this thread's block, so a reader has them all. */
            rec_dir(&w->out, complete, c.examined, it->path, it->len);
            c.records++;
        }
    }
    COUNT_ADD(examined, c.unreported);
    COUNT_ADD(dirs, 1);
    part_add_examined(it->part, c.examined);
    dir_finished(w, it->part, c.records);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (;;) {
        struct dir_item *it = queue_pop(0);
        if (!it) {
            /* Going idle: hand out what is buffered so parts complete and the reader sees it. */
            worker_flush(w);
            it = queue_pop(1);
            if (!it) break;
        }
        process_dir(w, it);
        free(it);
        queue_done();
    }
    worker_flush(w);
    return NULL;
}

/* Progress records at a fixed interval until the walk ends. */
static pthread_mutex_t prog_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t prog_cond; /* on CLOCK_MONOTONIC, set up in walk_run */
static int prog_stop;
static int64_t g_started;

static void *progress_main(void *arg)
{
    const struct scan_config *cfg = arg;
    pthread_mutex_lock(&prog_lock);
    while (!prog_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = ts_ns(&until) + (int64_t)cfg->progress_ms * 1000000LL;
        until.tv_sec = ns / 1000000000LL;
        until.tv_nsec = ns % 1000000000LL;
        while (!prog_stop && pthread_cond_timedwait(&prog_cond, &prog_lock, &until) != ETIMEDOUT) {
        }
        if (prog_stop) break;
        pthread_mutex_unlock(&prog_lock);
        rec_progress(queue_length(), now_mono_ns() - g_started);
        pthread_mutex_lock(&prog_lock);
    }
    pthread_mutex_unlock(&prog_lock);
    return NULL;
}

static int open_root(const char *path, const char *what)
{
    /* The root itself may be reached through a symlink (like `find DIR/`); nothing below it is. */
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fprintf(stderr, "hpcm-scan: %s %s: %s\n", what, path, strerror(errno));
    return fd;
}

static int start_workers(const struct scan_config *cfg, struct worker *ws)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int started = 0;
    for (int i = 0; i < cfg->threads; i++) {
        struct worker *w = &ws[i];
        memset(w, 0, sizeof *w);
        w->cfg = cfg;
        w->path_cap = 4096;
        w->path = malloc(w->path_cap);
        w->gbuf = malloc(GETDENTS_BUF);
        w->last_flush = now_mono_ns();
        if (!w->path || !w->gbuf || out_buf_init(&w->out) != 0) break;
        if (pthread_create(&w->tid, &attr, worker_main, w) != 0) break;
        started++;
    }
    pthread_attr_destroy(&attr);
    return started;
}

int walk_run(const struct scan_config *cfg)
{
    g_src_fd = open_root(cfg->src_root, "source root");
    if (g_src_fd < 0) return EXIT_BAD_ROOT;
    struct stat rst;
    if (fstat(g_src_fd, &rst) != 0) return EXIT_BAD_ROOT;
    g_src_dev = rst.st_dev;
    if (cfg->mode == MODE_COMPARE && (g_dst_fd = open_root(cfg->dst_root, "destination root")) < 0) return EXIT_BAD_ROOT;
    if (parts_init(cfg->skip_parts_file, cfg->part_depth) != 0) {
        fprintf(stderr, "hpcm-scan: skip-parts file %s: %s\n", cfg->skip_parts_file, strerror(errno));
        return EXIT_BAD_SKIP;
    }
    queue_init(cfg->queue_mem_items);
    g_started = now_mono_ns();

    struct dir_item *root = calloc(1, sizeof *root + 1);
    if (!root) return EXIT_FAILED;
    if (parts_skip("", 0)) {
        COUNT_ADD(skipped_parts, 1);
        if (cfg->part_depth == 0) {
            free(root);
            root = NULL;
        } else {
            root->part = PART_NONE;
        }
    } else {
        root->part = part_new("", 0);
        root->emit = 1;
    }
    if (root) queue_push(root);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&prog_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t prog;
    int prog_started = cfg->progress_ms > 0 && pthread_create(&prog, NULL, progress_main, (void *)cfg) == 0;
    struct worker *ws = calloc((size_t)cfg->threads, sizeof *ws);
    int started = ws ? start_workers(cfg, ws) : 0;
    if (started == 0) {
        /* No thread could start: walk on this one. */
        static struct worker solo;
        solo.cfg = cfg;
        solo.path_cap = 4096;
        solo.path = malloc(solo.path_cap);
        solo.gbuf = malloc(GETDENTS_BUF);
        if (!solo.path || !solo.gbuf || out_buf_init(&solo.out) != 0) return EXIT_FAILED;
        worker_main(&solo);
    }
    for (int i = 0; i < started; i++) pthread_join(ws[i].tid, NULL);
    if (prog_started) {
        pthread_mutex_lock(&prog_lock);
        prog_stop = 1;
        pthread_cond_signal(&prog_cond);
        pthread_mutex_unlock(&prog_lock);
        pthread_join(prog, NULL);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    rec_end(now_mono_ns() - g_started, ru.ru_maxrss);
    return COUNT_GET(lost_dirs) > 0 ? EXIT_FAILED : 0;
}
