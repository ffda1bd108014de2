/* Reads the environment once: roots, accept/reject globs, spool directory (checked), limits. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include "real.h"

#define MAX_ROOTS 64
#define MAX_PATTERNS 128

struct span { const char *s; size_t n; };
struct root { struct span name, canon; };

struct shim_config g_cfg;
static char g_arena[64 * 1024];
static size_t g_used;
static struct root g_roots[MAX_ROOTS];
static int g_nroots;
static struct glob_pattern g_accept[MAX_PATTERNS], g_reject[MAX_PATTERNS];
static int g_naccept, g_nreject;

static const char *keep(const char *s, size_t n) {
  if (g_used + n + 1 > sizeof g_arena) return NULL;
  char *d = g_arena + g_used;
  memcpy(d, s, n);
  d[n] = 0;
  g_used += n + 1;
  return d;
}

static int64_t env_int(const char *name, int64_t dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (*end || x < 0) {
    debug_log("ignoring invalid ", name, -1);
    return dflt;
  }
  return (int64_t)x;
}

static void add_root(const char *s, size_t n) {
  char buf[PATH_MAX + 1], raw[PATH_MAX + 1], canon[PATH_MAX + 1];
  if (n == 0) return;
  if (s[0] != '/' || n > PATH_MAX) { debug_log("HPCM_ROOTS: ignoring a root that is not an absolute path", "", -1); return; }
  if (g_nroots >= MAX_ROOTS) { debug_log("HPCM_ROOTS: too many roots", "", MAX_ROOTS); return; }
  memcpy(raw, s, n);
  raw[n] = 0;
  long len = resolve_at(AT_FDCWD, raw, buf, sizeof buf);
  if (len <= 0) return;
  struct root *r = &g_roots[g_nroots];
  r->name.s = keep(buf, (size_t)len);
  r->name.n = (size_t)len;
  r->canon.s = NULL;
  r->canon.n = 0;
  if (realpath(buf, canon) && (strlen(canon) != (size_t)len || memcmp(canon, buf, (size_t)len) != 0)) {
    r->canon.n = strlen(canon);
    r->canon.s = keep(canon, r->canon.n);
  }
  if (r->name.s) g_nroots++;
}

static int split_patterns(const char *env, struct glob_pattern *out, int max) {
  const char *v = getenv(env);
  int n = 0;
  if (!v) return 0;
  while (*v && n < max) {
    const char *e = strchr(v, ':');
    size_t len = e ? (size_t)(e - v) : strlen(v);
    if (len) {
      const char *k = keep(v, len);
      if (k) out[n++] = (struct glob_pattern){k, len};
    }
    if (!e) break;
    v = e + 1;
  }
  return n;
}

static int prefix_of(const struct span *root, const char *p, size_t len) {
  if (root->n == 1) return 1; /* "/" */
  return len >= root->n && memcmp(p, root->s, root->n) == 0 && (len == root->n || p[root->n] == '/');
}

static int filters_accept(const char *p, size_t len) {
  return globs_take(g_accept, g_naccept, g_reject, g_nreject, p, len);
}

int classify(char *p, size_t *len, size_t cap) {
  for (int i = 0; i < g_nroots; i++) {
    struct root *r = &g_roots[i];
    if (prefix_of(&r->name, p, *len)) return filters_accept(p, *len) ? PC_IN : PC_EXCL;
  }
  /* a path spelled through the root's canonical form (symlinks resolved, as getcwd and
   * /proc/self/fd report it) is rewritten to the configured spelling */
  for (int i = 0; i < g_nroots; i++) {
    struct root *r = &g_roots[i];
    if (!r->canon.s || !prefix_of(&r->canon, p, *len)) continue;
    size_t rest = *len - r->canon.n;
    if (r->name.n + rest > cap) return PC_FAIL;
    memmove(p + r->name.n, p + r->canon.n, rest);
    memcpy(p, r->name.s, r->name.n);
    *len = r->name.n + rest;
    return filters_accept(p, *len) ? PC_IN : PC_EXCL;
  }
  return PC_OUT;
}

static void load_host(void) {
  static char host[72];
  struct utsname u;
  size_t n = 0;
  if (uname(&u) == 0) {
    for (const char *c = u.nodename; *c && n < sizeof host - 1; c++) {
      char ch = *c;
      int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '.' || ch == '_' || ch == '-';
      host[n++] = ok ? ch : '_';
    }
  }
  if (n == 0) { memcpy(host, "localhost", 9); n = 9; }
  host[n] = 0;
  g_cfg.host = host;
  g_cfg.host_len = n;
}

static int spool_dir_ok(void) {
  char buf[PATH_MAX + 1], canon[PATH_MAX + 1];
  const char *dir = getenv("HPCM_SPOOL_DIR");
  char dflt[PATH_MAX];
  if (!dir || !*dir) {
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    size_t n;
    if (xdg && xdg[0] == '/' && (n = strlen(xdg)) < PATH_MAX - 32) {
      memcpy(dflt, xdg, n);
      memcpy(dflt + n, "/hpcmirror", 11);
    } else {
      char num[24];
      int k = 0;
      unsigned long uid = (unsigned long)geteuid();
      do { num[k++] = (char)('0' + uid % 10); uid /= 10; } while (uid);
      memcpy(dflt, "/var/tmp/hpcmirror-", 19);
      n = 19;
      while (k) dflt[n++] = num[--k];
      dflt[n] = 0;
    }
    dir = dflt;
  }
  if (dir[0] != '/') { debug_log("spool dir is not absolute: ", dir, -1); return 0; }
  long len = resolve_at(AT_FDCWD, dir, buf, sizeof buf);
  if (len <= 0 || len > PATH_MAX - 128) { debug_log("spool dir path unusable: ", dir, -1); return 0; }
  struct stat64 st;
  if (lstat64(buf, &st) != 0 && errno == ENOENT) REAL(mkdir)(buf, 0700);
  if (lstat64(buf, &st) != 0) { debug_log("spool dir missing: ", buf, errno); return 0; }
  if (!S_ISDIR(st.st_mode)) { debug_log("spool dir is not a directory (or is a symlink): ", buf, -1); return 0; }
  if (st.st_uid != geteuid()) { debug_log("spool dir not owned by the user: ", buf, (long)st.st_uid); return 0; }
  if ((st.st_mode & 0777) != 0700) { debug_log("spool dir mode is not 0700: ", buf, (long)(st.st_mode & 07777)); return 0; }
  size_t l = (size_t)len;
  if (classify(buf, &l, sizeof buf) != PC_OUT) { debug_log("spool dir is inside a mirrored root: ", buf, -1); return 0; }
  if (realpath(buf, canon)) {
    size_t cl = strlen(canon);
    if (classify(canon, &cl, sizeof canon) != PC_OUT) { debug_log("spool dir is inside a mirrored root: ", canon, -1); return 0; }
  }
  g_cfg.spool_dir = keep(buf, (size_t)len);
  g_cfg.spool_dir_len = (size_t)len;
  return g_cfg.spool_dir != NULL;
}

int config_load(void) {
  const char *log = getenv("HPCM_DEBUG_LOG");
  if (log && log[0] == '/') g_cfg.debug_log = keep(log, strlen(log));
  const char *sw = getenv("HPCM_SHIM");
  if (sw && strcmp(sw, "0") == 0) return 0;
  const char *roots = getenv("HPCM_ROOTS");
  if (!roots || !*roots) { debug_log("HPCM_ROOTS is empty: shim passive", "", -1); return 0; }
  while (*roots) {
    const char *e = strchr(roots, ':');
    size_t n = e ? (size_t)(e - roots) : strlen(roots);
    add_root(roots, n);
    if (!e) break;
    roots = e + 1;
  }
  if (g_nroots == 0) { debug_log("no usable root in HPCM_ROOTS: shim passive", "", -1); return 0; }
  g_naccept = split_patterns("HPCM_ACCEPT", g_accept, MAX_PATTERNS);
  g_nreject = split_patterns("HPCM_REJECT", g_reject, MAX_PATTERNS);
  g_cfg.bucket_s = env_int("HPCM_SPOOL_BUCKET_S", 60);
  if (g_cfg.bucket_s <= 0) g_cfg.bucket_s = 60;
  g_cfg.max_bytes = env_int("HPCM_SPOOL_MAX_BYTES", (int64_t)1 << 30);
  load_host();
  return spool_dir_ok();
}
