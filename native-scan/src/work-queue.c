/* The shared directory queue. LIFO, so the walk goes depth first and the queue holds roughly
 * depth x fan-out directories instead of a whole tree level. Above `mem_items` queued directories
 * (a directory with millions of subdirectories) further pushes go to an unlinked temp file used as
 * a second stack, so memory stays bounded whatever the shape of the tree. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scan.h"

struct spill_hdr {
    uint32_t part;
    uint16_t depth;
    uint8_t dst_missing;
    uint8_t emit;
    uint32_t len;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct dir_item *q_head;
static size_t q_mem_n, q_mem_cap;
static int spill_fd = -1;
static off_t spill_end;
static uint64_t spill_n;
static int q_busy;
static int q_finished;

int queue_init(size_t mem_items)
{
    q_mem_cap = mem_items ? mem_items : 1;
    return 0;
}

static int spill_open(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/hpcm-scan-queue.XXXXXX", dir);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0) unlink(tmpl);
    return fd;
}

static int pwrite_all(int fd, const void *p, size_t len, off_t off)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = pwrite(fd, c, len, off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        c += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int pread_all(int fd, void *p, size_t len, off_t off)
{
    char *c = p;
    while (len > 0) {
        ssize_t n = pread(fd, c, len, off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        c += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* Called with q_lock held. Layout per item: header, path, then the item's total size so the
 * file can be popped from its end. Returns -1 when the file cannot take it (kept in memory then). */
static int spill_push(struct dir_item *it)
{
    if (spill_fd < 0 && (spill_fd = spill_open()) < 0) return -1;
    struct spill_hdr h = { it->part, it->depth, it->dst_missing, it->emit, it->len };
    uint32_t total = (uint32_t)(sizeof h + it->len + 4);
    if (pwrite_all(spill_fd, &h, sizeof h, spill_end) ||
        pwrite_all(spill_fd, it->path, it->len, spill_end + (off_t)sizeof h) ||
        pwrite_all(spill_fd, &total, 4, spill_end + (off_t)(sizeof h + it->len)))
        return -1;
    spill_end += total;
    spill_n++;
    free(it);
    return 0;
}

static struct dir_item *spill_pop(void)
{
    uint32_t total;
    struct spill_hdr h;
    if (pread_all(spill_fd, &total, 4, spill_end - 4)) return NULL;
    off_t start = spill_end - total;
    if (pread_all(spill_fd, &h, sizeof h, start)) return NULL;
    struct dir_item *it = malloc(sizeof *it + h.len + 1);
    if (!it) return NULL;
    if (pread_all(spill_fd, it->path, h.len, start + (off_t)sizeof h)) {
        free(it);
        return NULL;
    }
    it->path[h.len] = 0;
    it->part = h.part;
    it->depth = h.depth;
    it->dst_missing = h.dst_missing;
    it->emit = h.emit;
    it->len = h.len;
    it->next = NULL;
    spill_end = start;
    spill_n--;
    return it;
}

void queue_push(struct dir_item *it)
{
    pthread_mutex_lock(&q_lock);
    if (q_mem_n < q_mem_cap || spill_push(it) != 0) {
        it->next = q_head;
        q_head = it;
        q_mem_n++;
    }
    pthread_cond_signal(&q_cond);
    pthread_mutex_unlock(&q_lock);
}

struct dir_item *queue_pop(int wait)
{
    struct dir_item *it = NULL;
    pthread_mutex_lock(&q_lock);
    for (;;) {
        if (q_head) {
            it = q_head;
            q_head = it->next;
            q_mem_n--;
        } else if (spill_n > 0) {
            it = spill_pop();
            if (!it) {
                /* An unreadable spill file: say so and end with a failure status (walker.c). */
                fprintf(stderr, "hpcm-scan: queue spill file unreadable: %llu directories not scanned\n",
                        (unsigned long long)spill_n);
                COUNT_ADD(lost_dirs, spill_n);
                spill_n = 0;
            }
        }
        if (it) {
            q_busy++;
            break;
        }
        if (q_finished || q_busy == 0) {
            if (wait) {
                q_finished = 1;
                pthread_cond_broadcast(&q_cond);
            }
            break;
        }
        if (!wait) break;
        pthread_cond_wait(&q_cond, &q_lock);
    }
    pthread_mutex_unlock(&q_lock);
    return it;
}

void queue_done(void)
{
    pthread_mutex_lock(&q_lock);
    q_busy--;
    if (q_busy == 0 && !q_head && spill_n == 0) pthread_cond_broadcast(&q_cond);
    pthread_mutex_unlock(&q_lock);
}

uint64_t queue_length(void)
{
    pthread_mutex_lock(&q_lock);
    uint64_t n = q_mem_n + spill_n;
    pthread_mutex_unlock(&q_lock);
    return n;
}
