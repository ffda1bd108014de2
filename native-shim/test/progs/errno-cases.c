/* Prints errno after failing calls, and after successful ones that the shim records (errno set
 * to a marker first): the output must be identical with and without the shim. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define SHOW(name, call) do { errno = 0; long r_ = (long)(call); printf("%s rc=%ld errno=%d\n", name, r_, errno); } while (0)
#define KEEP(name, call) do { errno = 4242; long r_ = (long)(call); printf("%s rc=%ld errno=%d\n", name, r_ >= 0 ? 0L : r_, errno); } while (0)

int main(void) {
  SHOW("open missing", open("no/such/file", O_RDONLY));
  SHOW("open write missing dir", open("no/such/file", O_WRONLY | O_CREAT, 0644));
  SHOW("open excl existing", (close(open("e.dat", O_WRONLY | O_CREAT, 0644)), open("e.dat", O_WRONLY | O_CREAT | O_EXCL, 0644)));
  SHOW("creat in missing dir", creat("no/x", 0644));
  SHOW("fopen missing dir", fopen("no/x", "w") == NULL ? -1 : 0);
  SHOW("rename missing", rename("nope", "nope2"));
  SHOW("link missing", link("nope", "nope2"));
  SHOW("symlink existing", symlink("t", "e.dat"));
  SHOW("unlink dir", (mkdir("d", 0755), unlink("d")));
  SHOW("rmdir file", rmdir("e.dat"));
  SHOW("mkdir existing", mkdir("d", 0755));
  SHOW("chmod missing", chmod("nope", 0600));
  SHOW("truncate missing", truncate("nope", 0));
  SHOW("close bad", close(-1));
  SHOW("dup2 bad", dup2(-1, 5));
  SHOW("remove missing", remove("nope"));
  KEEP("open ok", open("k.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644));
  KEEP("close ok", close(3));
  KEEP("rename ok", rename("k.dat", "k2.dat"));
  KEEP("chmod ok", chmod("k2.dat", 0600));
  KEEP("link ok", link("k2.dat", "k3.dat"));
  KEEP("unlink ok", unlink("k3.dat"));
  KEEP("mkdir ok", mkdir("d2", 0755));
  KEEP("remove dir ok", remove("d2"));
  return 0;
}
