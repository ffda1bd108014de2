/* Stdout in large blocks: each worker fills its own buffer and writes it whole under one lock, so
 * records never interleave and output costs one write() per block, not per entry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scan.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t out_block = 256 * 1024;

void out_init(size_t block) { out_block = block; }

int out_buf_init(struct outbuf *b)
{
    b->data = malloc(out_block);
    b->len = 0;
    b->cap = out_block;
    b->flushes = 0;
    return b->data ? 0 : -1;
}

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            /* The reader is gone: nothing more can be delivered, and nobody is left to tell. */
            _exit(EXIT_READER_GONE);
        }
        p += n;
        len -= (size_t)n;
    }
}

void out_write_direct(const void *rec, size_t len)
{
    pthread_mutex_lock(&out_lock);
    write_all(rec, len);
    pthread_mutex_unlock(&out_lock);
}

void out_flush(struct outbuf *b)
{
    if (b->len == 0) return;
    out_write_direct(b->data, b->len);
    b->len = 0;
    b->flushes++;
}

/* Space for one record; a record larger than a block (a very deep path) gets a block of its own. */
char *out_reserve(struct outbuf *b, size_t len)
{
    if (b->len + len > b->cap) {
        out_flush(b);
        if (len > b->cap) {
            char *bigger = realloc(b->data, len);
            if (!bigger) return NULL;
            b->data = bigger;
            b->cap = len;
        }
    }
    char *p = b->data + b->len;
    b->len += len;
    return p;
}
