// Test-only LD_PRELOAD shim: plays the guest kernel drivers for the real
// aenv-tee-helper binary on a machine without TEE devices. It replaces ioctl()
// for file descriptors opened under $FAKE_TEE_ROOT (plain files standing in for
// /dev/tdx_guest, /dev/sev-guest, /dev/csv-guest) and, with $FAKE_VSOCK_UNIX,
// turns AF_VSOCK sockets into Unix sockets connected to that path (a fake QGS).
//
// It decodes the ioctl numbers the kernel drivers decode (literal values, not
// the helper's macros: a helper struct of the wrong size yields another number
// and ENOTTY), checks what the drivers check (msg_version, null buffers,
// certificate buffer size, CSV length), fills responses as the firmware would
// (the request's REPORTDATA / user data / VMPL / mnonce written into a canned
// report from $FAKE_TEE_DIR) and logs each request as one JSON line to
// $FAKE_TEE_LOG. $FAKE_TEE_FAULT injects a failure: snp-fw:<code> (EIO with
// that firmware error), tdx-eio, csv-eio.
//
// What this cannot show: that the real drivers and firmware answer this way.
// It shows that the helper builds the structures the uapi headers define, with
// the pointers and sizes in the right places, and handles the documented answers.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/sev-guest.h>
#include <linux/tdx-guest.h>
#include <linux/vm_sockets.h>

#define FAKE_TDX_CMD_GET_REPORT0 0xC4405401ul /* _IOWR('T', 1, 1088 bytes) */
#define FAKE_SNP_GET_REPORT 0xC0205300ul      /* _IOWR('S', 0, 32 bytes) */
#define FAKE_SNP_GET_EXT_REPORT 0xC0205302ul  /* _IOWR('S', 2, 32 bytes) */
#define FAKE_CSV_CMD_GET_REPORT 0xC0104401ul  /* _IOWR('D', 1, 16 bytes) */

static const char *env(const char *n) {
  const char *v = getenv(n);
  return v && *v ? v : NULL;
}

static void log_line(const char *fmt, ...) {
  const char *p = env("FAKE_TEE_LOG");
  if (!p) return;
  FILE *f = fopen(p, "a");
  if (!f) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

static void hex(char *out, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
  out[2 * n] = 0;
}

// Reads $FAKE_TEE_DIR/<name> into a malloc'd buffer.
static uint8_t *canned(const char *name, size_t *len) {
  const char *dir = env("FAKE_TEE_DIR");
  if (!dir) return NULL;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *b = malloc(1 << 20);
  *len = fread(b, 1, 1 << 20, f);
  fclose(f);
  return b;
}

static int owned_fd(int fd) {
  const char *root = env("FAKE_TEE_ROOT");
  if (!root) return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n < 0) return 0;
  path[n] = 0;
  return strncmp(path, root, strlen(root)) == 0;
}

static int fault(const char *what) {
  const char *f = env("FAKE_TEE_FAULT");
  return f && strncmp(f, what, strlen(what)) == 0;
}

static int fail(int e) {
  errno = e;
  return -1;
}

static int tdx_report(struct tdx_report_req *req) {
  char rd[129];
  hex(rd, req->reportdata, 64);
  log_line("{\"ioctl\":\"TDX_CMD_GET_REPORT0\",\"reportdata\":\"%s\"}", rd);
  if (fault("tdx-eio")) return fail(EIO);
  size_t n = 0;
  uint8_t *t = canned("tdreport.bin", &n);
  if (!t || n != 1024) return fail(EIO);
  memcpy(req->tdreport, t, 1024);
  memcpy(req->tdreport + 128, req->reportdata, 64); /* REPORTMACSTRUCT.REPORTDATA */
  free(t);
  return 0;
}

// SNP_GET_REPORT / SNP_GET_EXT_REPORT as drivers/virt/coco/sev-guest does them.
static int snp_report(struct snp_guest_request_ioctl *user, int extended) {
  struct snp_guest_request_ioctl g = *user;
  g.exitinfo2 = 0xff;
  if (!g.msg_version) return fail(EINVAL);
  if (!g.req_data || !g.resp_data) return fail(EINVAL);
  struct snp_ext_report_req ext;
  memset(&ext, 0, sizeof ext);
  memcpy(&ext, (void *)(uintptr_t)g.req_data, extended ? sizeof(struct snp_ext_report_req) : sizeof(struct snp_report_req));
  char ud[129];
  hex(ud, ext.data.user_data, 64);
  int rsvd_zero = 1;
  for (size_t i = 0; i < sizeof ext.data.rsvd; i++) rsvd_zero &= ext.data.rsvd[i] == 0;
  log_line("{\"ioctl\":\"%s\",\"msg_version\":%u,\"vmpl\":%u,\"rsvd_zero\":%s,\"user_data\":\"%s\",\"certs_len\":%u,\"certs_address_set\":%s}", extended ? "SNP_GET_EXT_REPORT" : "SNP_GET_REPORT",
           g.msg_version, ext.data.vmpl, rsvd_zero ? "true" : "false", ud, ext.certs_len, ext.certs_address ? "true" : "false");
  size_t certs_n = 0;
  uint8_t *certs = extended ? canned("snp-certs.bin", &certs_n) : NULL;
  if (extended && ext.certs_len && ext.certs_address) {
    if (ext.certs_len > 16384 || ext.certs_len % 4096) return fail(EINVAL);
    uint32_t need = (uint32_t)((certs_n + 4095) / 4096 * 4096);
    if (certs && ext.certs_len < need) {
      // the host needs more pages: the kernel answers EIO, vmm_error 1, and the size
      ext.certs_len = need;
      memcpy((void *)(uintptr_t)g.req_data, &ext, sizeof ext);
      g.exitinfo2 = (uint64_t)1 << 32;
      *user = g;
      free(certs);
      return fail(EIO);
    }
  }
  const char *f = env("FAKE_TEE_FAULT");
  if (f && strncmp(f, "snp-fw:", 7) == 0) {
    g.exitinfo2 = strtoul(f + 7, NULL, 0);
    *user = g;
    free(certs);
    return fail(EIO);
  }
  if (ext.data.vmpl > 3 || !rsvd_zero) {
    g.exitinfo2 = 0x16; /* SEV_RET_INVALID_PARAM */
    *user = g;
    free(certs);
    return fail(EIO);
  }
  size_t n = 0;
  uint8_t *r = canned("snp-report.bin", &n);
  if (!r || n > 4000 - 32) return fail(EIO);
  uint8_t *resp = (uint8_t *)(uintptr_t)g.resp_data;
  memset(resp, 0, 4000);
  uint32_t status = 0, size = (uint32_t)n;
  memcpy(resp, &status, 4);
  memcpy(resp + 4, &size, 4);
  memcpy(resp + 32, r, n);
  memcpy(resp + 32 + 0x50, ext.data.user_data, 64); /* REPORT_DATA */
  memcpy(resp + 32 + 0x30, &ext.data.vmpl, 4);      /* VMPL */
  free(r);
  if (extended && ext.certs_len && ext.certs_address) {
    memset((void *)(uintptr_t)ext.certs_address, 0, ext.certs_len);
    if (certs) memcpy((void *)(uintptr_t)ext.certs_address, certs, certs_n);
  }
  free(certs);
  return 0;
}

struct fake_csv_req {
  uint8_t *report_data;
  int len;
};

static int csv_report(struct fake_csv_req *req) {
  if (req->len < 112) return fail(EINVAL);
  uint8_t in[112];
  memcpy(in, req->report_data, 112);
  char d[129], m[33], h[65];
  hex(d, in, 64);
  hex(m, in + 64, 16);
  hex(h, in + 80, 32);
  log_line("{\"ioctl\":\"CSV_CMD_GET_REPORT\",\"len\":%d,\"data\":\"%s\",\"mnonce\":\"%s\",\"hash\":\"%s\"}", req->len, d, m, h);
  if (fault("csv-eio")) return fail(EIO);
  size_t n = 0;
  uint8_t *r = canned("csv-report.bin", &n);
  if (!r || n > (size_t)req->len) return fail(EIO);
  memset(req->report_data, 0, (size_t)req->len);
  memcpy(req->report_data, r, n);
  // v1 report: REPORT_DATA @0x40 and MNONCE @0x80 are stored XOR-ed with ANONCE (u32 @0xBC)
  uint8_t k[4];
  memcpy(k, r + 0xbc, 4);
  for (int i = 0; i < 64; i++) req->report_data[0x40 + i] = in[i] ^ k[i % 4];
  for (int i = 0; i < 16; i++) req->report_data[0x80 + i] = in[64 + i] ^ k[i % 4];
  free(r);
  return 0;
}

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (!owned_fd(fd)) {
    int (*real)(int, unsigned long, ...) = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    return real(fd, request, arg);
  }
  switch (request) {
  case FAKE_TDX_CMD_GET_REPORT0: return tdx_report(arg);
  case FAKE_SNP_GET_REPORT: return snp_report(arg, 0);
  case FAKE_SNP_GET_EXT_REPORT: return snp_report(arg, 1);
  case FAKE_CSV_CMD_GET_REPORT: return csv_report(arg);
  default:
    log_line("{\"ioctl\":\"unknown\",\"request\":%lu}", request);
    return fail(ENOTTY);
  }
}

// AF_VSOCK -> AF_UNIX at $FAKE_VSOCK_UNIX (the helper's socket code runs as it is).
static int vsock_fds[64];

int socket(int domain, int type, int protocol) {
  int (*real)(int, int, int) = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
  if (domain != AF_VSOCK || !env("FAKE_VSOCK_UNIX")) return real(domain, type, protocol);
  int fd = real(AF_UNIX, type, 0);
  if (fd >= 0 && fd < 64) vsock_fds[fd] = 1;
  return fd;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  int (*real)(int, const struct sockaddr *, socklen_t) = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
  if (fd < 0 || fd >= 64 || !vsock_fds[fd] || addr->sa_family != AF_VSOCK) return real(fd, addr, len);
  const struct sockaddr_vm *vm = (const struct sockaddr_vm *)addr;
  log_line("{\"connect\":\"vsock\",\"cid\":%u,\"port\":%u,\"addrlen\":%u}", vm->svm_cid, vm->svm_port, (unsigned)len);
  struct sockaddr_un un;
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  strncpy(un.sun_path, env("FAKE_VSOCK_UNIX"), sizeof un.sun_path - 1);
  return real(fd, (struct sockaddr *)&un, sizeof un);
}
