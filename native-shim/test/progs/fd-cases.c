/* fd life cycles the shim must get right: fd-cases <case> [args]. Run in the directory under test. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static void die(const char *what) { printf("FAIL %s: %s\n", what, strerror(errno)); exit(1); }

static int wfile(const char *name, const char *text) {
  int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die(name);
  if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die("write");
  return fd;
}

/* no file written after the spool fd was taken away may contain record bytes */
static void check_clean(const char *name) {
  char buf[65536];
  int fd = open(name, O_RDONLY);
  if (fd < 0) die(name);
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0) die("read");
  if (memmem(buf, (size_t)n, "HPMR", 4)) { printf("FAIL %s holds spool bytes\n", name); exit(1); }
}

int main(int argc, char **argv) {
  const char *c = argc > 1 ? argv[1] : "";
  if (!strcmp(c, "never-closed")) {
    wfile("open.dat", "left open\n");
    puts("exiting");
    return 0;
  }
  if (!strcmp(c, "killed")) {
    wfile("killed.dat", "left open\n");
    puts("ready");
    fflush(stdout);
    for (;;) pause();
  }
  if (!strcmp(c, "mmap")) {
    int fd = open("mapped.dat", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 8192) != 0) die("mapped.dat");
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    memset(p, 'm', 8192);
    if (msync(p, 8192, MS_SYNC) != 0 || munmap(p, 8192) != 0) die("munmap");
    close(fd);
    /* an existing file opened read-write: written through mmap, then only read */
    fd = open("existing.dat", O_RDWR);
    if (fd < 0) die("existing.dat");
    p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap2");
    p[0] = 'X';
    munmap(p, 4096);
    close(fd);
    fd = open("readonly-rw.dat", O_RDWR);
    char b[16];
    if (fd < 0 || read(fd, b, sizeof b) < 0) die("readonly-rw.dat");
    close(fd);
    puts("mapped");
    return 0;
  }
  if (!strcmp(c, "tmpfile")) {
    int fd = open(".", O_TMPFILE | O_WRONLY, 0644);
    if (fd < 0) die("O_TMPFILE");
    if (write(fd, "anonymous one\n", 14) != 14) die("write");
    if (linkat(fd, "", AT_FDCWD, "published1.dat", AT_EMPTY_PATH) != 0) die("linkat AT_EMPTY_PATH");
    close(fd);
    fd = open(".", O_TMPFILE | O_RDWR, 0600);
    if (fd < 0) die("O_TMPFILE 2");
    if (write(fd, "anonymous two\n", 14) != 14) die("write");
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, "published2.dat", AT_SYMLINK_FOLLOW) != 0) die("linkat /proc");
    close(fd);
    fd = open(".", O_TMPFILE | O_WRONLY, 0600); /* never linked: nothing to announce */
    if (fd < 0 || write(fd, "gone\n", 5) != 5) die("O_TMPFILE 3");
    close(fd);
    puts("published");
    return 0;
  }
  if (!strcmp(c, "dup2")) {
    int fd = wfile("replaced.dat", "abc");
    int null = open("/dev/null", O_WRONLY);
    if (dup2(null, fd) != fd) die("dup2");     /* closes replaced.dat */
    if (write(fd, "zzz", 3) != 3) die("write null");
    /* the shell's way: open, move onto 1, close the original, write, restore */
    int saved = fcntl(1, F_DUPFD_CLOEXEC, 10);
    int f = wfile("redirected.dat", "");
    dup2(f, 1);
    close(f);
    printf("to the file\n");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    puts("done");
    return 0;
  }
  if (!strcmp(c, "close-range")) {
    close(wfile("before.dat", "before\n"));           /* the shim now holds a spool fd */
    if (close_range(3, ~0U, 0) != 0) die("close_range");
    for (int i = 0; i < 3; i++) {
      char n[32];
      snprintf(n, sizeof n, "after%d.dat", i);
      int fd = wfile(n, "after close_range\n");
      close(fd);
      check_clean(n);
    }
    /* behind the shim's back: raw syscalls close every fd and put the program's file on every
       number, the spool's old one included; the shim must notice and reopen */
    int big = wfile("hijack.dat", "");
    syscall(SYS_close_range, 3U, ~0U, 0);
    big = open("hijack.dat", O_WRONLY | O_APPEND);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    unsigned top = rl.rlim_cur > 4096 ? 4096 : (unsigned)rl.rlim_cur;
    for (unsigned n = 3; n < top; n++)
      if ((int)n != big) syscall(SYS_dup3, big, n, 0);
    for (int i = 0; i < 3; i++) {
      char n[32];
      snprintf(n, sizeof n, "late%d.dat", i);
      FILE *f = fopen(n, "w");
      if (!f) die(n);
      fputs("late\n", f);
      fclose(f);
    }
    syscall(SYS_close_range, 3U, ~0U, 0);
    check_clean("hijack.dat");
    closefrom(3);
    close(wfile("final.dat", "closefrom\n"));
    check_clean("final.dat");
    puts("clean");
    return 0;
  }
  if (!strcmp(c, "renamed-open")) {
    /* names changed behind the shim's back (raw syscalls, as another process would): each close
       must name the file where it is now, not where it was opened */
    if (mkdir("run", 0755) != 0) die("mkdir");
    int a = wfile("run/a.dat", "file renamed\n");
    int b = wfile("run/b.dat", "dir renamed\n");
    int gone = wfile("gone.dat", "unlinked\n");
    int same = wfile("same.dat", "replaced by another file\n");
    if (syscall(SYS_rename, "run/a.dat", "run/a2.dat") != 0) die("rename a");
    if (syscall(SYS_rename, "run", "run.1") != 0) die("rename run");
    if (syscall(SYS_unlink, "gone.dat") != 0) die("unlink");
    if (syscall(SYS_rename, "same.dat", "other.dat") != 0) die("rename same");
    close(wfile("same.dat", "a new file at the old name\n"));
    close(a);
    close(b);
    close(gone);
    close(same);
    puts("closed");
    return 0;
  }
  printf("unknown case %s\n", c);
  return 2;
}
