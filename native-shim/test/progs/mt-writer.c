/* N threads each create, write and close M files, then rename half of them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

static int files;

static void *work(void *arg) {
  long t = (long)arg;
  char name[64], renamed[64];
  for (int i = 0; i < files; i++) {
    snprintf(name, sizeof name, "t%ld-%d.dat", t, i);
    FILE *f = fopen(name, "w");
    if (!f) exit(3);
    fprintf(f, "thread %ld file %d\n", t, i);
    if (fclose(f) != 0) exit(4);
    if (i % 2) {
      snprintf(renamed, sizeof renamed, "t%ld-%d.done", t, i);
      if (rename(name, renamed) != 0) exit(5);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 8;
  files = argc > 2 ? atoi(argv[2]) : 50;
  pthread_t th[64];
  for (long t = 0; t < threads; t++) pthread_create(&th[t], NULL, work, (void *)t);
  for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
  printf("wrote %d files\n", threads * files);
  return 0;
}
