// Test-only: a FUSE file that behaves like /dev/tpmrm0 in front of swtpm, so the
// TPM attester's character-device transport (open O_RDWR, one write() of the
// command, one read() of the response, close) runs through the kernel VFS
// against a real TPM 2.0 implementation. This machine has no TPM, no vtpm proxy
// module and no CUSE, so a real character device cannot be made here.
//
//   fuse-tpm-device <mountpoint> <swtpm server socket>
//
// <mountpoint>/tpmrm0: every write is one exchange on its own connection to
// swtpm (the TCG simulator protocol: TPM_SEND_COMMAND, locality 0, length,
// command; answer: length, response, 0; then TPM_SESSION_END: swtpm serves one
// client at a time, and FUSE releases files asynchronously, so no connection
// outlives its command); write() takes exactly one whole command (as the kernel's
// tpm_common_write: the header's size must equal the write, EBUSY while a
// response is unread), read() returns the response once. direct_io: no page
// cache between the caller and these handlers. Unlike tpmrm0 it flushes no
// transient objects on close (the attester creates none).
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <errno.h>
#include <fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *swtpm_path;

struct ctx {
  uint8_t resp[4096];
  size_t len;
};

static int io_all(int s, void *b, size_t n, int out) {
  uint8_t *p = b;
  while (n > 0) {
    ssize_t r = out ? send(s, p, n, MSG_NOSIGNAL) : recv(s, p, n, 0);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static void be32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24);
  b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

static int t_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  memset(st, 0, sizeof *st);
  if (!strcmp(path, "/")) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (!strcmp(path, "/tpmrm0")) {
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    return 0;
  }
  return -ENOENT;
}

static int t_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi, enum fuse_readdir_flags fl) {
  (void)off;
  (void)fi;
  (void)fl;
  if (strcmp(path, "/")) return -ENOENT;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  fill(buf, "tpmrm0", NULL, 0, 0);
  return 0;
}

static int t_open(const char *path, struct fuse_file_info *fi) {
  if (strcmp(path, "/tpmrm0")) return -ENOENT;
  struct ctx *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  fi->fh = (uint64_t)(uintptr_t)c;
  fi->direct_io = 1;
  fi->nonseekable = 1;
  return 0;
}

static int t_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  (void)off;
  struct ctx *c = (struct ctx *)(uintptr_t)fi->fh;
  if (c->len) return -EBUSY;
  if (size < 10 || size > 4096 || rd32((const uint8_t *)buf + 2) != size) return -EINVAL;
  uint8_t hdr[9];
  be32(hdr, 8); /* TPM_SEND_COMMAND */
  hdr[4] = 0;   /* locality */
  be32(hdr + 5, (uint32_t)size);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un un = { .sun_family = AF_UNIX };
  strncpy(un.sun_path, swtpm_path, sizeof un.sun_path - 1);
  if (s < 0 || connect(s, (struct sockaddr *)&un, sizeof un) != 0) {
    int e = errno;
    if (s >= 0) close(s);
    return -e;
  }
  uint8_t len[4], ack[4], end[4];
  be32(end, 20); /* TPM_SESSION_END */
  int bad = io_all(s, hdr, 9, 1) || io_all(s, (void *)buf, size, 1) || io_all(s, len, 4, 0);
  uint32_t n = bad ? 0 : rd32(len);
  bad = bad || n < 10 || n > sizeof c->resp || io_all(s, c->resp, n, 0) || io_all(s, ack, 4, 0);
  io_all(s, end, 4, 1);
  close(s);
  if (bad) return -EIO;
  c->len = n;
  return (int)size;
}

static int t_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  (void)off;
  struct ctx *c = (struct ctx *)(uintptr_t)fi->fh;
  size_t n = c->len < size ? c->len : size;
  memcpy(buf, c->resp, n);
  c->len = 0;
  return (int)n;
}

static int t_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  free((struct ctx *)(uintptr_t)fi->fh);
  return 0;
}

static const struct fuse_operations ops = {
  .getattr = t_getattr,
  .readdir = t_readdir,
  .open = t_open,
  .write = t_write,
  .read = t_read,
  .release = t_release,
};

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fuse-tpm-device <mountpoint> <swtpm server socket>\n");
    return 2;
  }
  swtpm_path = argv[2];
  char *fargv[] = { argv[0], argv[1], "-f", "-s", NULL };
  return fuse_main(4, fargv, &ops, NULL);
}
