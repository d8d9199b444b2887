/* casulo_nbd: the nbdkit plugin behind casulo-sim's NBD service
 * (docs/design/simulator.md "NBD"; xapi-protocol.md §4.4).
 *
 *   nbdkit casulo_nbd.so state=DIR rpc=URL [rpc-ca=PEM]
 *
 * Serves DIR/vdi/<uuid>.img read-only under the export name that
 * VDI.get_nbd_info hands out, "/<vdi-uuid>?session_id=<session ref>". As
 * xapi-nbd does, open() validates the session with session.get_uuid and
 * resolves the VDI (VDI.get_by_uuid) through the simulator's own XML-RPC
 * endpoint, so a logged-out or unknown session is refused. Bytes served are
 * added to DIR/nbd-stats/<uuid> (a decimal count, under flock) when the
 * connection closes.
 */
#define NBDKIT_API_VERSION 2
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nbdkit-plugin.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static char *state_dir, *rpc_url, *rpc_ca;

struct handle {
  int fd;
  char uuid[37];
  _Atomic uint64_t served;
};

static int casulo_config(const char *key, const char *value) {
  char **slot = strcmp(key, "state") == 0    ? &state_dir
                : strcmp(key, "rpc") == 0    ? &rpc_url
                : strcmp(key, "rpc-ca") == 0 ? &rpc_ca
                                             : NULL;
  if (slot == NULL) {
    nbdkit_error("unknown parameter '%s'", key);
    return -1;
  }
  free(*slot);
  *slot = strdup(value);
  return *slot ? 0 : -1;
}

static int casulo_config_complete(void) {
  if (state_dir == NULL || rpc_url == NULL) {
    nbdkit_error("state= and rpc= are required");
    return -1;
  }
  return curl_global_init(CURL_GLOBAL_DEFAULT) == 0 ? 0 : -1;
}

static void casulo_unload(void) {
  free(state_dir);
  free(rpc_url);
  free(rpc_ca);
}

struct buf {
  char *data;
  size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *opaque) {
  struct buf *b = opaque;
  size_t add = size * n;
  if (b->len + add > (1 << 20)) return 0; /* answers here are tiny */
  char *grown = realloc(b->data, b->len + add + 1);
  if (grown == NULL) return 0;
  memcpy(grown + b->len, p, add);
  b->len += add;
  grown[b->len] = 0;
  b->data = grown;
  return add;
}

/* XML-RPC call with two string params; 1 when the answer's Status is
 * Success, 0 on Failure, -1 when the simulator could not be asked. The
 * arguments are checked by the caller to hold no XML metacharacters. */
static int rpc_succeeds(const char *method, const char *a, const char *b) {
  char body[1024];
  int n = snprintf(body, sizeof body,
                   "<?xml version=\"1.0\"?><methodCall><methodName>%s</methodName><params>"
                   "<param><value><string>%s</string></value></param>"
                   "<param><value><string>%s</string></value></param></params></methodCall>",
                   method, a, b ? b : "");
  if (n < 0 || (size_t)n >= sizeof body) return -1;
  if (b == NULL) {
    /* one param only: cut the second <param> */
    char *second = strstr(body, "</param><param>");
    if (second) strcpy(second, "</param></params></methodCall>");
  }
  CURL *c = curl_easy_init();
  if (c == NULL) return -1;
  struct buf out = {NULL, 0};
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: text/xml");
  curl_easy_setopt(c, CURLOPT_URL, rpc_url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (rpc_ca != NULL) {
    /* The simulator's self-signed certificate is the only trust anchor; its
     * name (the listen address) is not checked, the chain is. */
    curl_easy_setopt(c, CURLOPT_CAINFO, rpc_ca);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode rc = curl_easy_perform(c);
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(c);
  int result = -1;
  if (rc != CURLE_OK || http != 200 || out.data == NULL) {
    nbdkit_error("%s: simulator unreachable: %s (HTTP %ld)", method, curl_easy_strerror(rc), http);
  } else {
    const char *status = strstr(out.data, "Status");
    const char *ok = status ? strstr(status, "Success") : NULL;
    const char *fail = status ? strstr(status, "Failure") : NULL;
    result = ok && (!fail || ok < fail) ? 1 : 0;
  }
  free(out.data);
  return result;
}

static int plain_token(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return 0;
  for (; *s; ++s)
    if (!(*s == ':' || *s == '-' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
          (*s >= 'A' && *s <= 'Z')))
      return 0;
  return 1;
}

static void *casulo_open(int readonly) {
  (void)readonly; /* always read-only: xapi-nbd plugs a RO VBD */
  const char *name = nbdkit_export_name();
  const char *q = name ? strstr(name, "?session_id=") : NULL;
  if (name == NULL || q == NULL) {
    nbdkit_error("export name must be /<vdi-uuid>?session_id=<ref>");
    errno = ENOENT;
    return NULL;
  }
  const char *path = name[0] == '/' ? name + 1 : name;
  char uuid[64], session[128];
  size_t ulen = (size_t)(q - path);
  const char *sess = q + strlen("?session_id=");
  if (ulen != 36 || strlen(sess) >= sizeof session) {
    nbdkit_error("malformed export name");
    errno = ENOENT;
    return NULL;
  }
  memcpy(uuid, path, ulen);
  uuid[ulen] = 0;
  strcpy(session, sess);
  if (!plain_token(uuid, 36) || !plain_token(session, sizeof session - 1)) {
    nbdkit_error("malformed export name");
    errno = ENOENT;
    return NULL;
  }
  int ok = rpc_succeeds("session.get_uuid", session, session);
  if (ok != 1) {
    if (ok == 0) nbdkit_error("session refused");
    errno = EACCES;
    return NULL;
  }
  if (rpc_succeeds("VDI.get_by_uuid", session, uuid) != 1) {
    nbdkit_error("no VDI %s", uuid);
    errno = ENOENT;
    return NULL;
  }
  char file[4096];
  snprintf(file, sizeof file, "%s/vdi/%s.img", state_dir, uuid);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    nbdkit_error("open %s: %m", file);
    return NULL;
  }
  struct handle *h = calloc(1, sizeof *h);
  if (h == NULL) {
    close(fd);
    return NULL;
  }
  h->fd = fd;
  strcpy(h->uuid, uuid);
  return h;
}

/* Adds the connection's bytes to DIR/nbd-stats/<uuid>; several nbdkit
 * threads and processes may do this at once, hence the lock. */
static void add_stats(const struct handle *h) {
  char file[4096];
  snprintf(file, sizeof file, "%s/nbd-stats", state_dir);
  mkdir(file, 0755);
  snprintf(file, sizeof file, "%s/nbd-stats/%s", state_dir, h->uuid);
  int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (flock(fd, LOCK_EX) == 0) {
    char text[32] = {0};
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    uint64_t total = (n > 0 ? strtoull(text, NULL, 10) : 0) + atomic_load(&h->served);
    int len = snprintf(text, sizeof text, "%" PRIu64 "\n", total);
    if (pwrite(fd, text, (size_t)len, 0) == len && ftruncate(fd, len) == 0) fsync(fd);
    flock(fd, LOCK_UN);
  }
  close(fd);
}

static void casulo_close(void *handle) {
  struct handle *h = handle;
  add_stats(h);
  close(h->fd);
  free(h);
}

static int64_t casulo_get_size(void *handle) {
  struct handle *h = handle;
  struct stat st;
  if (fstat(h->fd, &st) < 0) {
    nbdkit_error("fstat: %m");
    return -1;
  }
  return st.st_size;
}

static int casulo_can_write(void *handle) {
  (void)handle;
  return 0;
}
static int casulo_can_multi_conn(void *handle) {
  (void)handle;
  return 1; /* read-only: every connection sees the same data */
}
static int casulo_can_extents(void *handle) {
  (void)handle;
  return 1;
}

static int casulo_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)flags;
  struct handle *h = handle;
  char *p = buf;
  uint32_t left = count;
  while (left > 0) {
    ssize_t r = pread(h->fd, p, left, (off_t)offset);
    if (r < 0) {
      if (errno == EINTR) continue;
      nbdkit_error("pread: %m");
      return -1;
    }
    if (r == 0) { /* past EOF (the file shrank): zeros */
      memset(p, 0, left);
      break;
    }
    p += r;
    left -= (uint32_t)r;
    offset += (uint64_t)r;
  }
  atomic_fetch_add(&h->served, count);
  return 0;
}

/* Holes and data as the file system reports them (SEEK_DATA/SEEK_HOLE). */
static int casulo_extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                          struct nbdkit_extents *extents) {
  (void)flags;
  struct handle *h = handle;
  int64_t size = casulo_get_size(h);
  if (size < 0) return -1;
  uint64_t end = offset + count < (uint64_t)size ? offset + count : (uint64_t)size;
  uint64_t pos = offset;
  while (pos < end) {
    off_t data = lseek(h->fd, (off_t)pos, SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) {
        nbdkit_error("lseek: %m");
        return -1;
      }
      data = size;
    }
    if ((uint64_t)data > pos) {
      uint64_t stop = (uint64_t)data < end ? (uint64_t)data : end;
      if (nbdkit_add_extent(extents, pos, stop - pos, NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) < 0)
        return -1;
      pos = stop;
      continue;
    }
    off_t hole = lseek(h->fd, (off_t)pos, SEEK_HOLE);
    if (hole < 0) {
      nbdkit_error("lseek: %m");
      return -1;
    }
    uint64_t stop = (uint64_t)hole < end ? (uint64_t)hole : end;
    if (nbdkit_add_extent(extents, pos, stop - pos, 0) < 0) return -1;
    pos = stop;
  }
  return 0;
}

static struct nbdkit_plugin plugin = {
    .name = "casulo-nbd",
    .longname = "casulo-sim VDI export",
    .version = "1",
    .config = casulo_config,
    .config_complete = casulo_config_complete,
    .config_help = "state=DIR rpc=URL [rpc-ca=PEM]",
    .unload = casulo_unload,
    .open = casulo_open,
    .close = casulo_close,
    .get_size = casulo_get_size,
    .can_write = casulo_can_write,
    .can_multi_conn = casulo_can_multi_conn,
    .can_extents = casulo_can_extents,
    .pread = casulo_pread,
    .extents = casulo_extents,
};

NBDKIT_REGISTER_PLUGIN(plugin)
