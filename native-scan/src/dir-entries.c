/* Directory reading with getdents64 straight into a per-thread buffer: no DIR*, no per-entry
 * allocation. Either streamed to a callback or collected into a sortable name list (compare mode). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "scan.h"

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int is_dot(const char *n) { return n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0)); }

int for_each_name(int fd, char *gbuf, size_t gbuf_size, name_cb cb, void *ctx)
{
    for (;;) {
        long n = syscall(SYS_getdents64, fd, gbuf, gbuf_size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) return 0;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(gbuf + off);
            off += d->d_reclen;
            if (is_dot(d->d_name)) continue;
            if (cb(ctx, d->d_name, strlen(d->d_name), d->d_type) != 0) return -1;
        }
    }
}

static int collect(void *ctx, const char *name, size_t len, unsigned char dtype)
{
    struct name_list *l = ctx;
    if (l->arena_len + len + 1 > l->arena_cap) {
        size_t cap = l->arena_cap ? l->arena_cap : 65536;
        while (cap < l->arena_len + len + 1) cap *= 2;
        char *a = realloc(l->arena, cap);
        if (!a) {
            errno = ENOMEM;
            return -1;
        }
        l->arena = a;
        l->arena_cap = cap;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        struct name_ref *r = realloc(l->refs, cap * sizeof *r);
        if (!r) {
            errno = ENOMEM;
            return -1;
        }
        l->refs = r;
        l->cap = cap;
    }
    memcpy(l->arena + l->arena_len, name, len + 1);
    l->refs[l->n++] = (struct name_ref){ (uint32_t)l->arena_len, (uint16_t)len, dtype, 0 };
    l->arena_len += len + 1;
    return 0;
}

int read_all_names(int fd, char *gbuf, size_t gbuf_size, struct name_list *out)
{
    out->n = 0;
    out->arena_len = 0;
    return for_each_name(fd, gbuf, gbuf_size, collect, out);
}

static int cmp_ref(const void *a, const void *b, void *arena)
{
    const struct name_ref *x = a, *y = b;
    return strcmp((const char *)arena + x->off, (const char *)arena + y->off);
}

void sort_names(struct name_list *l) { qsort_r(l->refs, l->n, sizeof *l->refs, cmp_ref, l->arena); }
