/* One-time initialisation: resolve every real function, read the configuration, build the CRC
 * table. Runs from the constructor, or earlier from the first wrapper that needs it. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include "real.h"

#define X(ret, name, args) name##_fn real_##name;
REAL_FUNCS(X)
#undef X

TLS int t_busy;
int g_enabled = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

void *shim_dlsym(const char *name) {
  return dlsym(RTLD_NEXT, name);
}

static void resolve_all(void) {
#define X(ret, name, args) if (!real_##name) real_##name = (name##_fn)dlsym(RTLD_NEXT, #name);
  REAL_FUNCS(X)
#undef X
}

/* A program started with stdout/stderr redirected into a file under a root (`cmd > f`) writes
 * it through fds it never opened: track them so their close (or fclose(stdout)) is announced. */
static void track_inherited_stdio(void) {
  uint64_t dev[3] = {0}, ino[3] = {0};
  for (int fd = 0; fd <= 2; fd++) {
    int fl = REAL(fcntl)(fd, F_GETFL);
    struct stat64 st;
    if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY || fstat64(fd, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    dev[fd] = st.st_dev;
    ino[fd] = st.st_ino;
    int same = -1;
    for (int k = 0; k < fd; k++)
      if (ino[k] == ino[fd] && dev[k] == dev[fd] && fdt_peek(k)) same = k;
    if (same >= 0) {
      fdt_dup(same, fd);
      continue;
    }
    rec_t r;
    if (rec_path1_fd(&r, fd) == PC_IN) fdt_track(fd, 0, 0);
  }
}

static void init_once(void) {
  int saved = errno;
  t_busy = 1;
  resolve_all();
  int on = 0;
  /* secure-execution (setuid) processes never record */
  if (getauxval(AT_SECURE) == 0) on = config_load();
  if (on) {
    pthread_atfork(NULL, NULL, record_after_fork);
    track_inherited_stdio();
  }
  __atomic_store_n(&g_enabled, on, __ATOMIC_RELEASE);
  t_busy = 0;
  errno = saved;
}

void shim_init(void) {
  /* the thread running init_once must not wait on itself (re-entry through dlsym) */
  if (t_busy) return;
  pthread_once(&g_once, init_once);
}

__attribute__((constructor(101))) static void shim_ctor(void) {
  shim_init();
}

/* exit() and a return from main run destructors; _exit/_Exit/exit_group are wrapped. One write,
 * no flushing, no freeing: nothing here can crash a program that is tearing itself down. */
__attribute__((destructor)) static void shim_dtor(void) {
  if (g_enabled > 0 && !t_busy) emit_exit();
}
