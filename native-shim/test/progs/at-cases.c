/* *at calls with directory fds, raw syscall(SYS_renameat2), hard links: at-cases <dir> */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/fs.h>

static void ok(int rc, const char *what) {
  if (rc != 0) { printf("FAIL %s: %s\n", what, strerror(errno)); exit(1); }
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  ok(mkdir(argv[1], 0755), "mkdir");
  int d = open(argv[1], O_RDONLY | O_DIRECTORY);
  if (d < 0) return 3;
  ok(mkdirat(d, "made", 0755), "mkdirat");
  int fd = openat(d, "made/a.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, "a\n", 2) != 2) return 4;
  ok(close(fd), "close");
  ok(linkat(d, "made/a.dat", d, "hard.dat", 0), "linkat");
  ok(renameat(d, "made/a.dat", d, "moved.dat"), "renameat");
  ok(symlinkat("moved.dat", d, "sym"), "symlinkat");
  fd = openat(d, "b.dat", O_WRONLY | O_CREAT, 0600);
  ok(fd < 0, "openat b");
  close(fd);
  ok((int)syscall(SYS_renameat2, d, "moved.dat", d, "b.dat", RENAME_EXCHANGE), "renameat2 exchange");
  errno = 0;
  int rc = (int)syscall(SYS_renameat2, d, "b.dat", d, "moved.dat", RENAME_NOREPLACE);
  printf("noreplace onto existing: %d %s\n", rc, strerror(errno));
  ok((int)syscall(SYS_renameat2, d, "b.dat", d, "c.dat", RENAME_NOREPLACE), "renameat2 noreplace");
  ok(fchmodat(d, "c.dat", 0600, 0), "fchmodat");
  ok(unlinkat(d, "sym", 0), "unlinkat");
  ok(unlinkat(d, "made", AT_REMOVEDIR), "unlinkat dir");
  puts("at-cases done");
  return 0;
}
