/* Opens a directory below a root without following any symlink on the way: a directory swapped for
 * a symlink mid-walk must not lead the scan elsewhere. openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
 * does it in one call; paths longer than the kernel takes in one call, or kernels without openat2,
 * go component by component with O_NOFOLLOW. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "scan.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define ONE_CALL_MAX 4000

static int have_openat2 = 1;

static int open2(int dirfd, const char *rel)
{
    struct open_how how = {
        .flags = DIR_FLAGS,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
}

static int open_components(int rootfd, const char *rel, size_t len)
{
    int fd = dup(rootfd);
    if (fd < 0) return -1;
    size_t i = 0;
    char name[256];
    while (i < len) {
        size_t j = i;
        while (j < len && rel[j] != '/') j++;
        size_t n = j - i;
        if (n == 0 || n >= sizeof name) {
            close(fd);
            errno = n ? ENAMETOOLONG : ENOENT;
            return -1;
        }
        memcpy(name, rel + i, n);
        name[n] = 0;
        int next = openat(fd, name, DIR_FLAGS);
        int saved = errno;
        close(fd);
        if (next < 0) {
            errno = saved;
            return -1;
        }
        fd = next;
        i = j + 1;
    }
    return fd;
}

/* `rel` is NUL-terminated at `len`; "" opens the root itself. */
int open_dir_beneath(int rootfd, const char *rel, size_t len)
{
    if (len == 0) return openat(rootfd, ".", DIR_FLAGS);
    if (len <= ONE_CALL_MAX && __atomic_load_n(&have_openat2, __ATOMIC_RELAXED)) {
        int fd = open2(rootfd, rel);
        if (fd >= 0 || errno != ENOSYS) return fd;
        __atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
    }
    if (len > ONE_CALL_MAX && __atomic_load_n(&have_openat2, __ATOMIC_RELAXED)) {
        /* Open a prefix ending at a '/' in one call, then the rest from there. */
        size_t cut = ONE_CALL_MAX;
        while (cut > 0 && rel[cut] != '/') cut--;
        if (cut > 0) {
            char prefix[ONE_CALL_MAX + 1];
            memcpy(prefix, rel, cut);
            prefix[cut] = 0;
            int mid = open2(rootfd, prefix);
            if (mid >= 0) {
                int fd = open_dir_beneath(mid, rel + cut + 1, len - cut - 1);
                int saved = errno;
                close(mid);
                errno = saved;
                return fd;
            }
            if (errno != ENOSYS) return -1;
            __atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
        }
    }
    return open_components(rootfd, rel, len);
}
