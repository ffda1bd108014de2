/*
 * hpcm_xattr: the two extended-attribute calls the subscriber needs and Node does not have
 * (fsetxattr on a temp file it holds, lgetxattr on an entry named through /proc/self/fd/<dirfd>/).
 * Both run on libuv's thread pool like every other destination operation (an xattr call on a
 * network file system is a round trip) and settle a promise; errors carry the errno name as `code`.
 */
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define MAX_VALUE 4096
#define MAX_NAME 256

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;            /* set: the fd; get: -1 */
  char *path;        /* get: NUL-terminated path bytes */
  char name[MAX_NAME];
  char value[MAX_VALUE];
  ssize_t len;       /* set: value length; get: result length */
  int err;
} job_t;

static const char *errno_name(int e) {
  switch (e) {
  case ENODATA: return "ENODATA";
  case ENOTSUP: return "ENOTSUP";
  case ENOENT: return "ENOENT";
  case EACCES: return "EACCES";
  case EPERM: return "EPERM";
  case ERANGE: return "ERANGE";
  case ENOSPC: return "ENOSPC";
  case EDQUOT: return "EDQUOT";
  case EBADF: return "EBADF";
  case ENOTDIR: return "ENOTDIR";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case ELOOP: return "ELOOP";
  case EIO: return "EIO";
  case EROFS: return "EROFS";
  default: return "EXATTR";
  }
}

static void execute(napi_env env, void *data) {
  (void)env;
  job_t *j = data;
  if (j->fd >= 0) {
    j->err = fsetxattr(j->fd, j->name, j->value, (size_t)j->len, 0) == 0 ? 0 : errno;
  } else {
    j->len = lgetxattr(j->path, j->name, j->value, MAX_VALUE);
    j->err = j->len < 0 ? errno : 0;
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value result;
  if (status != napi_ok) j->err = EIO;
  if (j->err == 0) {
    if (j->fd >= 0) {
      napi_get_undefined(env, &result);
    } else {
      void *out;
      napi_create_buffer_copy(env, (size_t)j->len, j->value, &out, &result);
    }
    napi_resolve_deferred(env, j->deferred, result);
  } else if (j->fd < 0 && j->err == ENODATA) {
    napi_get_null(env, &result);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    napi_value code, msg;
    char text[128];
    snprintf(text, sizeof text, "%s: %s", j->fd >= 0 ? "fsetxattr" : "lgetxattr", strerror(j->err));
    napi_create_string_utf8(env, errno_name(j->err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &result);
    napi_reject_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  free(j->path);
  free(j);
}

static napi_value start(napi_env env, job_t *j) {
  napi_value promise, resource;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "hpcm_xattr", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static int read_name(napi_env env, napi_value v, job_t *j) {
  size_t n;
  return napi_get_value_string_utf8(env, v, j->name, MAX_NAME, &n) == napi_ok && n > 0 && n < MAX_NAME - 1;
}

/* setFd(fd: number, name: string, value: Buffer): Promise<void> */
static napi_value set_fd(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  job_t *j = calloc(1, sizeof *j);
  void *bytes;
  size_t len;
  int32_t fd;
  if (!j || argc != 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || !read_name(env, argv[1], j) ||
      napi_get_buffer_info(env, argv[2], &bytes, &len) != napi_ok || len > MAX_VALUE) {
    free(j);
    napi_throw_type_error(env, NULL, "setFd(fd, name, value): bad arguments");
    return NULL;
  }
  j->fd = fd;
  memcpy(j->value, bytes, len);
  j->len = (ssize_t)len;
  return start(env, j);
}

/* get(path: Buffer, name: string): Promise<Buffer | null> (null: no such attribute) */
static napi_value get(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  job_t *j = calloc(1, sizeof *j);
  void *bytes;
  size_t len;
  if (!j || argc != 2 || napi_get_buffer_info(env, argv[0], &bytes, &len) != napi_ok || !read_name(env, argv[1], j) ||
      memchr(bytes, 0, len) != NULL || (j->path = malloc(len + 1)) == NULL) {
    free(j);
    napi_throw_type_error(env, NULL, "get(path, name): bad arguments");
    return NULL;
  }
  memcpy(j->path, bytes, len);
  j->path[len] = 0;
  j->fd = -1;
  return start(env, j);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "setFd", NAPI_AUTO_LENGTH, set_fd, NULL, &fn);
  napi_set_named_property(env, exports, "setFd", fn);
  napi_create_function(env, "get", NAPI_AUTO_LENGTH, get, NULL, &fn);
  napi_set_named_property(env, exports, "get", fn);
  return exports;
}
