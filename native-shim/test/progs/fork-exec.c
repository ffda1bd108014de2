/* Parent, forked child and exec'd child each write a file; prints every pid. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static void wfile(const char *name) {
  int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, name, strlen(name)) < 0) exit(3);
  close(fd);
}

int main(void) {
  wfile("parent1.dat");
  printf("parent %d\n", (int)getpid());
  fflush(stdout);
  pid_t a = fork();
  if (a == 0) {
    wfile("child.dat");
    printf("child %d\n", (int)getpid());
    fflush(stdout);
    _exit(0);
  }
  waitpid(a, NULL, 0);
  pid_t b = fork();
  if (b == 0) {
    execl("/bin/sh", "sh", "-c", "echo exec $$; echo x > exec.dat", (char *)NULL);
    _exit(127);
  }
  int st;
  waitpid(b, &st, 0);
  wfile("parent2.dat");
  return WEXITSTATUS(st);
}
