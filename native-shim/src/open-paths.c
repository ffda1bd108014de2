/* The path each written open was recorded under (its OPEN_W), kept so that its close can name the
 * file with one lstat (is that name still this file?) instead of a readlink of /proc/self/fd/N.
 * A small table keyed by the fd table's origin id (shared by dup'ed fds); each slot is a seqlock
 * taken with a try-lock, so writers never wait and a reader that races a writer simply misses.
 * No locks, no malloc: safe in threads and signal handlers, inherited as is by a fork child. */
#include <string.h>
#include "shim.h"

#define OPATH_SLOTS 64
#define OPATH_MAX 1024 /* longer paths are not kept: their close falls back to readlink */

struct opath_slot {
  unsigned seq;    /* odd while being written */
  uint32_t origin; /* 0 = empty */
  uint32_t len;
  char path[OPATH_MAX];
};

static struct opath_slot g_slots[OPATH_SLOTS];

static struct opath_slot *slot_of(uint32_t origin) { return &g_slots[origin % OPATH_SLOTS]; }

void opath_put(uint32_t origin, const char *path, size_t len) {
  struct opath_slot *s = slot_of(origin);
  unsigned seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
  if ((seq & 1) || !__atomic_compare_exchange_n(&s->seq, &seq, seq + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    return;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  if (len > OPATH_MAX) {
    __atomic_store_n(&s->origin, 0, __ATOMIC_RELAXED);
  } else {
    __atomic_store_n(&s->origin, origin, __ATOMIC_RELAXED);
    __atomic_store_n(&s->len, (uint32_t)len, __ATOMIC_RELAXED);
    for (size_t i = 0; i < len; i++) __atomic_store_n(&s->path[i], path[i], __ATOMIC_RELAXED);
  }
  __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

long opath_get(uint32_t origin, char *out, size_t cap) {
  struct opath_slot *s = slot_of(origin);
  unsigned seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
  if (seq & 1) return -1;
  if (__atomic_load_n(&s->origin, __ATOMIC_RELAXED) != origin) return -1;
  size_t len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
  if (len == 0 || len > OPATH_MAX || len > cap) return -1;
  for (size_t i = 0; i < len; i++) out[i] = __atomic_load_n(&s->path[i], __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq) return -1;
  return (long)len;
}
