/*
 * hpcm-watch: the inotify reader behind `hpcmirror watch` (README.md).
 *
 * Watches one tree (every directory below ROOT, symlinks not followed) and writes a framed event
 * stream to stdout. It pairs IN_MOVED_FROM/IN_MOVED_TO by cookie into one rename, adds watches to
 * directories created or moved in before it reports them, drops the watches of directories moved
 * out, and answers IN_Q_OVERFLOW by walking the tree again (re-adding watches) and reporting an
 * overflow, on which the reader rescans. Exits when stdin closes (its parent went away).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Event types written to stdout (README.md "Output"). */
enum {
  EV_READY = 'R',     /* path1 = number of watches, decimal */
  EV_CLOSE_W = 'W',   /* a file opened for writing was closed */
  EV_MODIFIED = 'M',  /* created or written, not yet closed */
  EV_ATTRIB = 'A',    /* mode, owner, times or link count changed */
  EV_MKDIR = 'D',     /* directory created (its subtree is watched already) */
  EV_DELETED = 'X',   /* removed */
  EV_RENAMED = 'N',   /* path1 = new, path2 = old, both inside the tree */
  EV_MOVED_OUT = 'O', /* moved out of the tree (or its pair was not seen) */
  EV_MOVED_IN = 'I',  /* moved in (a directory: its subtree is watched already) */
  EV_OVERFLOW = 'Q',  /* events were lost: rescan the tree */
  EV_ROOT_GONE = 'G', /* the root itself was removed or moved */
  EV_ERROR = 'E',     /* path1 = message; the process exits 3 after it */
};

#define MASK (IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | \
              IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK)

static int ifd = -1;
static char **wd_path; /* wd -> absolute directory path (NULL: not ours any more) */
static size_t wd_cap;
static size_t nwatches;
static long max_watches_sim = -1; /* --max-watches N: pretend the kernel limit is N (tests) */
static int limit_hit;
static size_t dirs_needed;
static char *root;
static size_t root_len;

static void emit(int type, int is_dir, const char *p1, size_t l1, const char *p2, size_t l2) {
  uint8_t h[16];
  uint32_t total = (uint32_t)(16 + l1 + l2);
  memcpy(h, &total, 4);
  h[4] = (uint8_t)type;
  h[5] = (uint8_t)(is_dir ? 1 : 0);
  h[6] = h[7] = 0;
  uint32_t a = (uint32_t)l1, b = (uint32_t)l2;
  memcpy(h + 8, &a, 4);
  memcpy(h + 12, &b, 4);
  fwrite(h, 1, 16, stdout);
  if (l1) fwrite(p1, 1, l1, stdout);
  if (l2) fwrite(p2, 1, l2, stdout);
}

static void emit1(int type, int is_dir, const char *p) { emit(type, is_dir, p, strlen(p), NULL, 0); }

static void die(const char *msg) {
  emit1(EV_ERROR, 0, msg);
  fflush(stdout);
  exit(3);
}

static void set_wd(int wd, const char *path) {
  if ((size_t)wd >= wd_cap) {
    size_t n = wd_cap ? wd_cap : 1024;
    while (n <= (size_t)wd) n *= 2;
    char **p = realloc(wd_path, n * sizeof *p);
    if (!p) die("out of memory");
    memset(p + wd_cap, 0, (n - wd_cap) * sizeof *p);
    wd_path = p;
    wd_cap = n;
  }
  if (!wd_path[wd]) nwatches++;
  free(wd_path[wd]);
  wd_path[wd] = strdup(path);
  if (!wd_path[wd]) die("out of memory");
}

static void clear_wd(int wd) {
  if (wd < 0 || (size_t)wd >= wd_cap || !wd_path[wd]) return;
  free(wd_path[wd]);
  wd_path[wd] = NULL;
  nwatches--;
}

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) die("out of memory");
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

static int is_below(const char *path, const char *dir, size_t dl) {
  return strncmp(path, dir, dl) == 0 && (path[dl] == '/' || path[dl] == 0);
}

/* Watches dir and every directory below it. After the limit is hit it only counts directories. */
static void watch_tree(const char *dir) {
  if (limit_hit) {
    dirs_needed++;
  } else if (max_watches_sim >= 0 && (long)nwatches >= max_watches_sim) {
    limit_hit = 1;
    dirs_needed = nwatches + 1;
  } else {
    int wd = inotify_add_watch(ifd, dir, MASK);
    if (wd < 0) {
      if (errno == ENOSPC) {
        limit_hit = 1;
        dirs_needed = nwatches + 1;
      } else {
        return; /* vanished or unreadable meanwhile: its parent's events tell what happened */
      }
    } else {
      set_wd(wd, dir);
    }
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
    int isdir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      isdir = fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (!isdir) continue;
    char *child = join(dir, e->d_name);
    watch_tree(child);
    free(child);
  }
  closedir(d);
}

static void check_limit(void) {
  if (!limit_hit) return;
  char msg[512];
  long cur = -1;
  FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "r");
  if (f) {
    if (fscanf(f, "%ld", &cur) != 1) cur = -1;
    fclose(f);
  }
  if (max_watches_sim >= 0) cur = max_watches_sim;
  snprintf(msg, sizeof msg,
           "inotify watch limit reached: fs.inotify.max_user_watches is %ld; watching %s needs %zu watches (one per "
           "directory) plus those other programs of this user hold (sysctl -w fs.inotify.max_user_watches=%zu or more)",
           cur, root, dirs_needed, (size_t)(cur > 0 ? (size_t)cur : 0) + dirs_needed);
  die(msg);
}

/* Directories below old (and old itself) now live below new: rename their watch paths. */
static void move_watches(const char *old, const char *new) {
  size_t ol = strlen(old), nl = strlen(new);
  for (size_t wd = 0; wd < wd_cap; wd++) {
    char *p = wd_path[wd];
    if (!p || !is_below(p, old, ol)) continue;
    size_t rest = strlen(p + ol);
    char *q = malloc(nl + rest + 1);
    if (!q) die("out of memory");
    memcpy(q, new, nl);
    memcpy(q + nl, p + ol, rest + 1);
    free(p);
    wd_path[wd] = q;
  }
}

/* Directories at or below dir left the tree: stop watching them. */
static void drop_watches(const char *dir) {
  size_t dl = strlen(dir);
  for (size_t wd = 0; wd < wd_cap; wd++) {
    if (!wd_path[wd] || !is_below(wd_path[wd], dir, dl)) continue;
    inotify_rm_watch(ifd, (int)wd);
    clear_wd((int)wd);
  }
}

/* An IN_MOVED_FROM waiting for its IN_MOVED_TO. */
static struct {
  int active;
  uint32_t cookie;
  int is_dir;
  char *path;
} pending;

static void flush_pending(void) {
  if (!pending.active) return;
  emit1(EV_MOVED_OUT, pending.is_dir, pending.path);
  if (pending.is_dir) drop_watches(pending.path);
  free(pending.path);
  pending.active = 0;
}

static void overflow(void) {
  flush_pending();
  /* Directories created while events were lost have no watch yet. */
  watch_tree(root);
  check_limit();
  emit1(EV_OVERFLOW, 1, root);
}

static void handle(const struct inotify_event *ev) {
  if (ev->mask & IN_Q_OVERFLOW) {
    overflow();
    return;
  }
  if (ev->wd < 0 || (size_t)ev->wd >= wd_cap || !wd_path[ev->wd]) return;
  const char *dir = wd_path[ev->wd];
  if (ev->mask & IN_IGNORED) {
    clear_wd(ev->wd);
    return;
  }
  if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
    if (strcmp(dir, root) == 0) {
      flush_pending();
      emit1(EV_ROOT_GONE, 1, root);
    }
    return; /* below the root, the parent's IN_DELETE / IN_MOVED_* tell it */
  }
  if (!ev->len) return;
  int is_dir = (ev->mask & IN_ISDIR) != 0;
  char *path = join(dir, ev->name);

  if ((ev->mask & IN_MOVED_TO) && pending.active && pending.cookie == ev->cookie) {
    emit(EV_RENAMED, is_dir, path, strlen(path), pending.path, strlen(pending.path));
    if (is_dir) move_watches(pending.path, path);
    free(pending.path);
    pending.active = 0;
    free(path);
    return;
  }
  flush_pending();

  if (ev->mask & IN_MOVED_FROM) {
    pending.active = 1;
    pending.cookie = ev->cookie;
    pending.is_dir = is_dir;
    pending.path = path;
    return;
  }
  if (ev->mask & IN_MOVED_TO) {
    if (is_dir) {
      watch_tree(path);
      check_limit();
    }
    emit1(EV_MOVED_IN, is_dir, path);
  } else if (ev->mask & IN_CREATE) {
    if (is_dir) {
      watch_tree(path);
      check_limit();
      emit1(EV_MKDIR, 1, path);
    } else {
      emit1(EV_MODIFIED, 0, path);
    }
  } else if (ev->mask & IN_DELETE) {
    emit1(EV_DELETED, is_dir, path);
  } else if (ev->mask & IN_CLOSE_WRITE) {
    emit1(EV_CLOSE_W, 0, path);
  } else if (ev->mask & IN_MODIFY) {
    emit1(EV_MODIFIED, 0, path);
  } else if (ev->mask & IN_ATTRIB) {
    emit1(EV_ATTRIB, is_dir, path);
  }
  free(path);
}

static void usage(void) {
  fputs("usage: hpcm-watch [--max-watches N] ROOT\n", stderr);
  exit(2);
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--max-watches") == 0 && i + 1 < argc) max_watches_sim = strtol(argv[++i], NULL, 10);
    else usage();
  }
  if (i + 1 != argc) usage();
  static char outbuf[1 << 16];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

  root = realpath(argv[i], NULL);
  if (!root) {
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof msg, "cannot watch %s: %s", argv[i], strerror(errno));
    die(msg);
  }
  root_len = strlen(root);
  ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ifd < 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "inotify_init1: %s%s", strerror(errno),
             errno == EMFILE ? " (fs.inotify.max_user_instances reached)" : "");
    die(msg);
  }
  watch_tree(root);
  check_limit();
  char n[32];
  snprintf(n, sizeof n, "%zu", nwatches);
  emit1(EV_READY, 1, n);
  fflush(stdout);

  static char buf[256 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
  struct pollfd fds[2] = {{.fd = ifd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  for (;;) {
    /* A lone IN_MOVED_FROM waits a moment for its pair; then it was a move out of the tree. */
    int r = poll(fds, 2, pending.active ? 20 : -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("poll failed");
    }
    if (r == 0) {
      flush_pending();
      fflush(stdout);
      continue;
    }
    if (fds[1].revents) {
      char c[256];
      ssize_t k = read(0, c, sizeof c);
      if (k <= 0) break;
    }
    if (!(fds[0].revents & POLLIN)) continue;
    for (;;) {
      ssize_t len = read(ifd, buf, sizeof buf);
      if (len < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        die("reading inotify events failed");
      }
      for (char *p = buf; p < buf + len;) {
        const struct inotify_event *ev = (const struct inotify_event *)p;
        handle(ev);
        p += sizeof *ev + ev->len;
      }
    }
    if (fflush(stdout) != 0) break;
  }
  flush_pending();
  fflush(stdout);
  return 0;
}
