/* Checkpoint units ("parts", README.md "Checkpoint"): every directory at depth <= part_depth starts
 * a part; a directory at exactly part_depth owns its whole subtree, shallower ones only their own
 * entries. A part is complete when all its directories are read and their records are written out;
 * then a PART_DONE record follows them on stdout. Parts done in an earlier run come in as a skip set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

struct part {
    int64_t pending;
    uint64_t examined;
    uint32_t len;
    char *key;
};

#define CHUNK_BITS 12
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS (1u << 18)

static pthread_mutex_t parts_lock = PTHREAD_MUTEX_INITIALIZER;
/* Chunks never move, so a part is read without the lock once its id has been handed over. */
static struct part **chunks;
static uint32_t n_parts;

static char **skip_keys; /* open addressing, power-of-two size */
static uint32_t *skip_lens;
static size_t skip_cap;

static uint64_t fnv1a(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void skip_insert(char *key, uint32_t len)
{
    size_t i = fnv1a(key, len) & (skip_cap - 1);
    while (skip_keys[i]) {
        if (skip_lens[i] == len && memcmp(skip_keys[i], key, len) == 0) {
            free(key);
            return;
        }
        i = (i + 1) & (skip_cap - 1);
    }
    skip_keys[i] = key;
    skip_lens[i] = len;
}

/* The skip file: part keys (relative paths, "" = the root) each terminated by a NUL byte. */
static int load_skip(const char *file)
{
    FILE *f = fopen(file, "re");
    if (!f) return -1;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    size_t count = 0;
    int c;
    char **keys = NULL;
    uint32_t *lens = NULL;
    size_t kcap = 0;
    while ((c = getc(f)) != EOF) {
        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 256;
            char *bigger = realloc(buf, cap);
            if (!bigger) goto fail;
            buf = bigger;
        }
        if (c != 0) {
            buf[n++] = (char)c;
            continue;
        }
        if (count == kcap) {
            kcap = kcap ? kcap * 2 : 64;
            char **k2 = realloc(keys, kcap * sizeof *keys);
            if (!k2) goto fail;
            keys = k2;
            uint32_t *l2 = realloc(lens, kcap * sizeof *lens);
            if (!l2) goto fail;
            lens = l2;
        }
        keys[count] = malloc(n + 1);
        if (!keys[count]) goto fail;
        memcpy(keys[count], buf, n);
        keys[count][n] = 0;
        lens[count++] = (uint32_t)n;
        n = 0;
    }
    fclose(f);
    free(buf);
    skip_cap = 16;
    while (skip_cap < count * 2) skip_cap *= 2;
    skip_keys = calloc(skip_cap, sizeof *skip_keys);
    skip_lens = calloc(skip_cap, sizeof *skip_lens);
    if (!skip_keys || !skip_lens) return -1;
    for (size_t i = 0; i < count; i++) skip_insert(keys[i], lens[i]);
    free(keys);
    free(lens);
    return 0;
fail:
    fclose(f);
    return -1;
}

int parts_init(const char *skip_file, int part_depth)
{
    (void)part_depth;
    chunks = calloc(MAX_CHUNKS, sizeof *chunks);
    if (!chunks) return -1;
    if (skip_file && load_skip(skip_file) != 0) return -1;
    return 0;
}

int parts_skip(const char *key, size_t len)
{
    if (!skip_cap) return 0;
    size_t i = fnv1a(key, len) & (skip_cap - 1);
    while (skip_keys[i]) {
        if (skip_lens[i] == len && memcmp(skip_keys[i], key, len) == 0) return 1;
        i = (i + 1) & (skip_cap - 1);
    }
    return 0;
}

static struct part *part_at(uint32_t id) { return &chunks[id >> CHUNK_BITS][id & (CHUNK_SIZE - 1)]; }

uint32_t part_new(const char *key, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) return PART_NONE;
    memcpy(copy, key, len);
    copy[len] = 0;
    pthread_mutex_lock(&parts_lock);
    uint32_t id = n_parts;
    uint32_t c = id >> CHUNK_BITS;
    if (c >= MAX_CHUNKS || (!chunks[c] && !(chunks[c] = calloc(CHUNK_SIZE, sizeof(struct part))))) {
        pthread_mutex_unlock(&parts_lock);
        free(copy);
        return PART_NONE; /* not checkpointed, still scanned */
    }
    n_parts++;
    struct part *p = part_at(id);
    p->pending = 1;
    p->examined = 0;
    p->len = (uint32_t)len;
    p->key = copy;
    pthread_mutex_unlock(&parts_lock);
    return id;
}

void part_add_pending(uint32_t id)
{
    if (id != PART_NONE) __atomic_fetch_add(&part_at(id)->pending, 1, __ATOMIC_RELAXED);
}

void part_add_examined(uint32_t id, uint64_t n)
{
    if (id != PART_NONE) __atomic_fetch_add(&part_at(id)->examined, n, __ATOMIC_RELAXED);
}

int part_finish_one(uint32_t id)
{
    if (id == PART_NONE) return 0;
    struct part *p = part_at(id);
    if (__atomic_sub_fetch(&p->pending, 1, __ATOMIC_ACQ_REL) != 0) return 0;
    rec_part_done(p->key, p->len, __atomic_load_n(&p->examined, __ATOMIC_RELAXED));
    free(p->key);
    p->key = NULL;
    return 1;
}
