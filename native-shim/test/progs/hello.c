/* Writes one file and says hello: run statically linked and as a 32-bit program. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc > 1) {
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "hello\n", 6) != 6 || close(fd) != 0) return 2;
  }
  puts("hello");
  return 0;
}
