/* Which fds refer to a file under a root that was opened for writing. An entry holds an origin
 * id shared by all duplicates of one open, so closing one duplicate while another (e.g. the
 * shell's `>` redirection moved onto fd 1) stays open is not announced as the file's close. */
#include "shim.h"

#define FDT_MAX 65536

static uint32_t g_fdt[FDT_MAX];
static int64_t g_fdt_ctime[FDT_MAX];
static int g_hwm = -1;
static uint32_t g_next_origin;

static void raise_hwm(int fd) {
  int cur = __atomic_load_n(&g_hwm, __ATOMIC_RELAXED);
  while (fd > cur && !__atomic_compare_exchange_n(&g_hwm, &cur, fd, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

uint32_t fdt_track(int fd, int check, int64_t ctime_ns) {
  if (fd < 0 || fd >= FDT_MAX) return 0;
  /* unique per open (until the counter wraps), never 0 */
  uint32_t origin;
  do origin = __atomic_add_fetch(&g_next_origin, 1, __ATOMIC_RELAXED) & FDT_ORIGIN; while (!origin);
  uint32_t e = FDT_TRACKED | (check ? FDT_CHECK : 0) | origin;
  if (check) __atomic_store_n(&g_fdt_ctime[fd], ctime_ns, __ATOMIC_RELAXED);
  __atomic_store_n(&g_fdt[fd], e, __ATOMIC_RELEASE);
  raise_hwm(fd);
  return e;
}

uint32_t fdt_take(int fd) {
  if (fd < 0 || fd >= FDT_MAX) return 0;
  if (!__atomic_load_n(&g_fdt[fd], __ATOMIC_RELAXED)) return 0;
  return __atomic_exchange_n(&g_fdt[fd], 0, __ATOMIC_ACQ_REL);
}

uint32_t fdt_peek(int fd) {
  if (fd < 0 || fd >= FDT_MAX) return 0;
  return __atomic_load_n(&g_fdt[fd], __ATOMIC_ACQUIRE);
}

void fdt_restore(int fd, uint32_t e) {
  if (fd < 0 || fd >= FDT_MAX || !e) return;
  __atomic_store_n(&g_fdt[fd], e, __ATOMIC_RELEASE);
}

int64_t fdt_ctime(int fd) {
  if (fd < 0 || fd >= FDT_MAX) return 0;
  return __atomic_load_n(&g_fdt_ctime[fd], __ATOMIC_RELAXED);
}

void fdt_dup(int oldfd, int newfd) {
  if (oldfd < 0 || oldfd >= FDT_MAX || newfd < 0 || newfd >= FDT_MAX) return;
  uint32_t e = __atomic_load_n(&g_fdt[oldfd], __ATOMIC_ACQUIRE);
  if (!e) return;
  __atomic_fetch_or(&g_fdt[oldfd], FDT_DUPED, __ATOMIC_ACQ_REL);
  __atomic_store_n(&g_fdt_ctime[newfd], __atomic_load_n(&g_fdt_ctime[oldfd], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  __atomic_store_n(&g_fdt[newfd], e | FDT_DUPED, __ATOMIC_RELEASE);
  raise_hwm(newfd);
}

/* another tracked fd outside [lo, hi] shares e's origin */
int fdt_has_sibling(uint32_t e, int lo, int hi) {
  uint32_t origin = e & FDT_ORIGIN;
  int top = __atomic_load_n(&g_hwm, __ATOMIC_RELAXED);
  for (int fd = 0; fd <= top && fd < FDT_MAX; fd++) {
    if (fd >= lo && fd <= hi) continue;
    uint32_t o = __atomic_load_n(&g_fdt[fd], __ATOMIC_RELAXED);
    if (o && (o & FDT_ORIGIN) == origin) return 1;
  }
  return 0;
}

int fdt_hwm(void) { return __atomic_load_n(&g_hwm, __ATOMIC_RELAXED); }
