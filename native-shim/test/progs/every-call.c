/* Calls every function the shim wraps, each on names of its own, so a test can match each
 * announcement to the call that caused it: every-call <alias>, run in the mirrored root, where
 * <alias> is a symlink outside the root pointing to it (a file opened through it is not tracked,
 * its textual path being outside, so its fd-based changes are announced as CHANGED). The files the
 * metadata and truncating calls change, d/ and source.dat exist beforehand (made without the shim).
 * Prints "mkstemp <name>" for the one random name; exits 0 when every call succeeded. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utime.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

/* 2020-01-02T03:04:05Z: the time every time-setting call sets */
#define T0 1577934245

static const char *step = "";
static void die(const char *what) { printf("FAIL %s %s: %s\n", step, what, strerror(errno)); exit(1); }
#define CHECK(x) do { step = #x; if ((x) < 0) die(""); } while (0)

static void put(int fd, const char *s) { if (write(fd, s, strlen(s)) != (ssize_t)strlen(s)) die("write"); }

/* a closed file holding text (announced by its own close) */
static void file(const char *name, const char *text) {
  int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die(name);
  put(fd, text);
  close(fd);
}

static int child(void (*fn)(void)) {
  pid_t p = fork();
  if (p < 0) die("fork");
  if (p == 0) { fn(); _exit(99); }
  int st;
  if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) { errno = ECHILD; die("child"); }
  return 0;
}

static void never_closed_then_exit(void) { put(open("exit-_exit.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644), "_exit\n"); _exit(0); }
static void never_closed_then_Exit(void) { put(open("exit-_Exit.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644), "_Exit!\n"); _Exit(0); }
static void never_closed_then_group(void) { put(open("exit-group.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644), "exit_group\n"); syscall(SYS_exit_group, 0); }

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *alias = argv[1];
  CHECK(mkdir("mkdir.d", 0755));
  int d = open("d", O_RDONLY | O_DIRECTORY);
  CHECK(d);
  CHECK(mkdirat(d, "mkdirat.d", 0755));

  /* the open family: one close each */
  int fd;
  CHECK(fd = open("open.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644)); put(fd, "open\n"); CHECK(close(fd));
  CHECK(fd = open64("open64.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644)); put(fd, "open64\n"); CHECK(close(fd));
  CHECK(fd = openat(d, "openat.dat", O_RDWR | O_CREAT | O_TRUNC, 0640)); put(fd, "openat!\n"); CHECK(close(fd));
  CHECK(fd = creat("creat.dat", 0600)); put(fd, "creat\n"); CHECK(close(fd));
  FILE *f = fopen("fopen.dat", "w");
  if (!f) die("fopen");
  fputs("fopen\n", f);
  CHECK(fclose(f));
  f = fopen("freopen-1.dat", "w");
  if (!f) die("fopen 2");
  fputs("first\n", f);
  f = freopen("freopen-2.dat", "w", f); /* closes freopen-1.dat */
  if (!f) die("freopen");
  fputs("second!\n", f);
  CHECK(fclose(f));
  char tmpl[] = "mkstemp-XXXXXX";
  CHECK(fd = mkstemp(tmpl)); put(fd, "mkstemp\n"); CHECK(close(fd));
  printf("mkstemp %s\n", tmpl);
  /* an existing file (4 bytes) opened without O_CREAT/O_TRUNC and written */
  CHECK(fd = open("append.dat", O_WRONLY | O_APPEND)); put(fd, "two\n"); CHECK(close(fd));

  /* duplicates: only the last fd of an open announces, with the final size */
  CHECK(fd = open("dup.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644));
  int d1, d2;
  CHECK(d1 = dup(fd));
  CHECK(d2 = fcntl(fd, F_DUPFD_CLOEXEC, 40));
  CHECK(close(fd)); CHECK(close(d1));
  put(d2, "dup+fcntl\n");
  CHECK(close(d2));
  int null = open("/dev/null", O_WRONLY);
  CHECK(null);
  CHECK(fd = open("dup2.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644)); put(fd, "dup2\n");
  CHECK(dup2(null, fd)); /* replaces (closes) dup2.dat */
  CHECK(close(fd));
  CHECK(fd = open("dup3.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644)); put(fd, "dup3!\n");
  CHECK(dup3(null, fd, O_CLOEXEC));
  CHECK(close(fd));
  CHECK(fd = open("close_range.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644)); put(fd, "close_range\n");
  CHECK(close_range((unsigned)fd, (unsigned)fd, 0));

  /* names */
  file("rename-a.dat", "rename\n");
  CHECK(rename("rename-a.dat", "rename-b.dat"));
  file("d/renameat-a.dat", "renameat\n");
  CHECK(renameat(d, "renameat-a.dat", AT_FDCWD, "renameat-b.dat"));
  file("noreplace-a.dat", "noreplace\n");
  CHECK(renameat2(AT_FDCWD, "noreplace-a.dat", d, "noreplace-b.dat", RENAME_NOREPLACE));
  file("exchange-a.dat", "exchange a\n");
  CHECK(mkdir("exchange-b", 0755));
  CHECK(renameat2(AT_FDCWD, "exchange-a.dat", AT_FDCWD, "exchange-b", RENAME_EXCHANGE));
  file("raw-a.dat", "raw renameat2\n");
  CHECK(syscall(SYS_renameat2, AT_FDCWD, "raw-a.dat", AT_FDCWD, "raw-b.dat", 0));
  file("link-src.dat", "linked\n");
  CHECK(link("link-src.dat", "link.dat"));
  CHECK(linkat(AT_FDCWD, "link-src.dat", d, "linkat.dat", 0));
  CHECK(fd = open(".", O_TMPFILE | O_WRONLY, 0644)); put(fd, "tmpfile one\n");
  CHECK(linkat(fd, "", AT_FDCWD, "tmpfile-empty-path.dat", AT_EMPTY_PATH));
  CHECK(close(fd));
  CHECK(fd = open(".", O_TMPFILE | O_RDWR, 0600)); put(fd, "tmpfile two!\n");
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  CHECK(linkat(AT_FDCWD, proc, AT_FDCWD, "tmpfile-proc.dat", AT_SYMLINK_FOLLOW));
  CHECK(close(fd));
  CHECK(symlink("open.dat", "symlink"));
  CHECK(symlinkat("../open.dat", d, "symlinkat"));
  file("unlink.dat", "x\n");
  CHECK(unlink("unlink.dat"));
  file("d/unlinkat.dat", "x\n");
  CHECK(unlinkat(d, "unlinkat.dat", 0));
  CHECK(mkdir("d/unlinkat-dir.d", 0755));
  CHECK(unlinkat(d, "unlinkat-dir.d", AT_REMOVEDIR));
  file("remove.dat", "x\n");
  CHECK(remove("remove.dat"));
  CHECK(mkdir("remove-dir.d", 0755));
  CHECK(remove("remove-dir.d"));
  CHECK(mkdir("rmdir.d", 0755));
  CHECK(rmdir("rmdir.d"));

  /* content changes without an open under the root */
  CHECK(truncate("truncate.dat", 3));
  CHECK(truncate64("truncate64.dat", 4));
  char p[8192];
  snprintf(p, sizeof p, "%s/ftruncate.dat", alias);
  CHECK(fd = open(p, O_WRONLY)); /* through the alias: untracked */
  CHECK(ftruncate(fd, 5));
  CHECK(close(fd));
  int in = open("source.dat", O_RDONLY); /* 46 bytes */
  CHECK(in);
  snprintf(p, sizeof p, "%s/sendfile.dat", alias);
  CHECK(fd = open(p, O_WRONLY));
  CHECK(sendfile(fd, in, NULL, 46));
  CHECK(close(fd));
  snprintf(p, sizeof p, "%s/copy_file_range.dat", alias);
  CHECK(fd = open(p, O_WRONLY));
  off64_t off = 0;
  CHECK(copy_file_range(in, &off, fd, NULL, 20, 0));
  CHECK(close(fd));
  CHECK(close(in));

  /* metadata */
  CHECK(chmod("chmod.dat", 0600));
  CHECK(fd = open("fchmod.dat", O_RDONLY)); CHECK(fchmod(fd, 0640)); CHECK(close(fd));
  CHECK(fchmodat(d, "fchmodat.dat", 0604, 0));
  uid_t u = getuid();
  gid_t g = getgid();
  CHECK(chown("chown.dat", u, g));
  CHECK(lchown("lchown.dat", u, g));
  CHECK(fd = open("fchown.dat", O_RDONLY)); CHECK(fchown(fd, u, g)); CHECK(close(fd));
  CHECK(fchownat(d, "fchownat.dat", u, g, 0));
  struct utimbuf ub = {T0, T0};
  struct timeval tv[2] = {{T0, 0}, {T0, 0}};
  struct timespec ts[2] = {{T0, 0}, {T0, 0}};
  CHECK(utime("utime.dat", &ub));
  CHECK(utimes("utimes.dat", tv));
  CHECK(lutimes("lutimes.dat", tv));
  CHECK(fd = open("futimes.dat", O_RDONLY)); CHECK(futimes(fd, tv)); CHECK(close(fd));
  CHECK(futimesat(d, "futimesat.dat", tv));
  CHECK(utimensat(AT_FDCWD, "utimensat.dat", ts, 0));
  CHECK(fd = open("futimens.dat", O_RDONLY)); CHECK(futimens(fd, ts)); CHECK(close(fd));

  /* exits with a file left open: _exit, _Exit and exit_group in children, exit() here */
  child(never_closed_then_exit);
  child(never_closed_then_Exit);
  child(never_closed_then_group);
  CHECK(fd = open("closefrom.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644)); put(fd, "closefrom\n");
  closefrom(fd); /* also every higher fd: the shim keeps its spool fd */
  CHECK(fd = open("exit.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644)); put(fd, "left open at exit\n");
  close(d);
  close(null);
  fflush(stdout);
  return 0;
}
