// aenv-tee-helper: the few things the TEE attesters need that Node cannot do —
// the guest-driver ioctls (TDX, SEV-SNP, Hygon CSV) and an AF_VSOCK connection
// to the TDX quote generation service (QGS) on the host.
//
//   aenv-tee-helper layout
//   aenv-tee-helper tdx-report     --device /dev/tdx_guest                 (stdin: 64-byte REPORTDATA, hex)
//   aenv-tee-helper snp-report     --device /dev/sev-guest --vmpl N        (stdin: 64-byte user data, hex)
//   aenv-tee-helper snp-ext-report --device /dev/sev-guest --vmpl N [--certs-len BYTES]
//   aenv-tee-helper csv-report     --device /dev/csv-guest [--len BYTES]   (stdin: 112-byte request, hex)
//   aenv-tee-helper vsock-xfer     --cid CID --port PORT [--timeout-ms MS] (stdin: one QGS message, hex)
//
// Input: hex on stdin (whitespace ignored). Output: one JSON object on stdout,
// byte strings as lowercase hex. Failure: exit 1 and one JSON object on stderr
// {"error", "errno", "errno_name", ...}; usage errors exit 2. The helper holds no
// state and no secrets; it does exactly one request per run and never retries a
// guest request the kernel has sent to the firmware (SEV-SNP: a retry with a new
// sequence number is the kernel's job), except SNP_GET_EXT_REPORT's documented
// "certificate buffer too small" answer, which the kernel completes safely.
//
// Struct layouts come from the kernel uapi headers (<linux/sev-guest.h>,
// <linux/tdx-guest.h>: the system's when installed, otherwise the vendored copy
// in ./uapi, see PROVENANCE.md); the Hygon CSV driver publishes no uapi header, so
// its request is declared here. `layout` prints sizeof/offsetof of every struct
// and the ioctl numbers as compiled, for the TypeScript side to check.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/sev-guest.h>
#include <linux/tdx-guest.h>
#include <linux/vm_sockets.h>

#ifndef AENV_HEADERS
#define AENV_HEADERS "unknown"
#endif

// Hygon CSV guest driver (drivers/virt/coco/csv-guest/csv-guest.h in Hygon's and
// OpenAnolis' kernels): struct csv_report_req { u8 *report_data; int len; } and
// CSV_CMD_GET_REPORT = _IOWR('D', 1, struct csv_report_req). The first 112 bytes
// of the buffer are the request {user data[64], mnonce[16], SM3(data||mnonce)[32]};
// the firmware writes the report over the whole buffer.
struct aenv_csv_report_req {
  uint8_t *report_data;
  int len;
};
#define AENV_CSV_CMD_GET_REPORT _IOWR('D', 1, struct aenv_csv_report_req)
#define AENV_CSV_REQUEST_LEN 112
#define AENV_CSV_DEFAULT_LEN 4096

// SEV-SNP: exitinfo2 bits [63:32] carry the VMM error; 1 = certificate buffer too small.
#define AENV_SNP_VMM_ERR_INVALID_LEN 1u
// SEV_FW_BLOB_MAX_SIZE in the kernel: the largest certificate buffer it accepts.
#define AENV_SNP_CERTS_MAX (16u * 1024u)
#define AENV_PAGE 4096u

#define AENV_QGS_MAX_MSG (1u << 20)

// ---------------------------------------------------------------- output ----

static void put_hex(FILE *f, const uint8_t *b, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    fputc(digits[b[i] >> 4], f);
    fputc(digits[b[i] & 15], f);
  }
}

static const char *errno_name(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "E?";
}

// A failure: {"error": what, "errno": e, "errno_name": ..., <extra>} on stderr, exit 1.
static void fail(const char *what, int e, const char *extra) __attribute__((noreturn));
static void fail(const char *what, int e, const char *extra) {
  fprintf(stderr, "{\"error\":\"%s\",\"errno\":%d,\"errno_name\":\"%s\",\"message\":\"%s\"%s%s}\n", what, e, e ? errno_name(e) : "", e ? strerror(e) : "", extra ? "," : "", extra ? extra : "");
  exit(1);
}

static void usage(const char *why) __attribute__((noreturn));
static void usage(const char *why) {
  fprintf(stderr, "{\"error\":\"usage: %s\",\"errno\":0}\n", why);
  exit(2);
}

// ----------------------------------------------------------------- input ----

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads hex from stdin (at most `max` bytes once decoded); returns the length.
static size_t read_hex_stdin(uint8_t *out, size_t max) {
  size_t n = 0;
  int hi = -1;
  for (;;) {
    int c = fgetc(stdin);
    if (c == EOF) break;
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    int v = hexval(c);
    if (v < 0) usage("stdin must be hex");
    if (hi < 0) {
      hi = v;
      continue;
    }
    if (n >= max) usage("stdin holds more bytes than this command takes");
    out[n++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  if (hi >= 0) usage("stdin has an odd number of hex digits");
  return n;
}

static void read_exact_hex(uint8_t *out, size_t len) {
  if (read_hex_stdin(out, len) != len) {
    char why[80];
    snprintf(why, sizeof why, "stdin must hold exactly %zu bytes (hex)", len);
    usage(why);
  }
}

// ---------------------------------------------------------------- options ---

struct opts {
  const char *device;
  long vmpl;
  long certs_len;
  long len;
  long cid;
  long port;
  long timeout_ms;
  long msg_version;
};

static long parse_long(const char *s, long min, long max, const char *name) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 0);
  if (errno || !end || *end || v < min || v > max) {
    char why[96];
    snprintf(why, sizeof why, "%s must be an integer in [%ld, %ld]", name, min, max);
    usage(why);
  }
  return v;
}

static void parse_opts(int argc, char **argv, struct opts *o) {
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage("every option takes a value");
    const char *v = argv[++i];
    if (!strcmp(a, "--device")) o->device = v;
    else if (!strcmp(a, "--vmpl")) o->vmpl = parse_long(v, 0, 3, "--vmpl");
    else if (!strcmp(a, "--certs-len")) o->certs_len = parse_long(v, AENV_PAGE, AENV_SNP_CERTS_MAX, "--certs-len");
    else if (!strcmp(a, "--len")) o->len = parse_long(v, AENV_CSV_REQUEST_LEN, 1 << 20, "--len");
    else if (!strcmp(a, "--cid")) o->cid = parse_long(v, 0, UINT32_MAX, "--cid");
    else if (!strcmp(a, "--port")) o->port = parse_long(v, 1, UINT32_MAX, "--port");
    else if (!strcmp(a, "--timeout-ms")) o->timeout_ms = parse_long(v, 1, 600000, "--timeout-ms");
    else if (!strcmp(a, "--msg-version")) o->msg_version = parse_long(v, 1, 255, "--msg-version");
    else usage("unknown option");
  }
}

static int open_device(const struct opts *o) {
  if (!o->device) usage("--device is required");
  int fd = open(o->device, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    // the path as a JSON string: printable ASCII but quote and backslash, the rest dropped
    char extra[PATH_MAX + 32], *w = extra;
    w += sprintf(w, "\"device\":\"");
    for (const char *c = o->device; *c && w < extra + PATH_MAX; c++)
      if (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\') *w++ = *c;
    strcpy(w, "\"");
    fail("open", e, extra);
  }
  return fd;
}

// ----------------------------------------------------------------- layout ---

#define FIELD(T, f) printf("%s\"%s\":[%zu,%zu]", first++ ? "," : "", #f, offsetof(struct T, f), sizeof(((struct T *)0)->f))
#define STRUCT_BEGIN(T) \
  do { \
    int first = 0; \
    printf("%s\"%s\":{\"size\":%zu,\"fields\":{", nstruct++ ? "," : "", #T, sizeof(struct T));
#define STRUCT_END() \
  printf("}}"); \
  } \
  while (0)

static int cmd_layout(void) {
  int nstruct = 0;
  printf("{\"headers\":\"%s\",\"structs\":{", AENV_HEADERS);
  STRUCT_BEGIN(tdx_report_req);
  FIELD(tdx_report_req, reportdata);
  FIELD(tdx_report_req, tdreport);
  STRUCT_END();
  STRUCT_BEGIN(snp_report_req);
  FIELD(snp_report_req, user_data);
  FIELD(snp_report_req, vmpl);
  FIELD(snp_report_req, rsvd);
  STRUCT_END();
  STRUCT_BEGIN(snp_report_resp);
  FIELD(snp_report_resp, data);
  STRUCT_END();
  STRUCT_BEGIN(snp_ext_report_req);
  FIELD(snp_ext_report_req, data);
  FIELD(snp_ext_report_req, certs_address);
  FIELD(snp_ext_report_req, certs_len);
  STRUCT_END();
  STRUCT_BEGIN(snp_guest_request_ioctl);
  FIELD(snp_guest_request_ioctl, msg_version);
  FIELD(snp_guest_request_ioctl, req_data);
  FIELD(snp_guest_request_ioctl, resp_data);
  FIELD(snp_guest_request_ioctl, exitinfo2);
  FIELD(snp_guest_request_ioctl, fw_error);
  FIELD(snp_guest_request_ioctl, vmm_error);
  STRUCT_END();
  STRUCT_BEGIN(aenv_csv_report_req);
  FIELD(aenv_csv_report_req, report_data);
  FIELD(aenv_csv_report_req, len);
  STRUCT_END();
  STRUCT_BEGIN(sockaddr_vm);
  FIELD(sockaddr_vm, svm_family);
  FIELD(sockaddr_vm, svm_port);
  FIELD(sockaddr_vm, svm_cid);
  STRUCT_END();
  printf("},\"ioctls\":{\"TDX_CMD_GET_REPORT0\":%lu,\"SNP_GET_REPORT\":%lu,\"SNP_GET_EXT_REPORT\":%lu,\"CSV_CMD_GET_REPORT\":%lu}",
         (unsigned long)TDX_CMD_GET_REPORT0, (unsigned long)SNP_GET_REPORT, (unsigned long)SNP_GET_EXT_REPORT, (unsigned long)AENV_CSV_CMD_GET_REPORT);
  printf(",\"constants\":{\"TDX_REPORTDATA_LEN\":%d,\"TDX_REPORT_LEN\":%d,\"AF_VSOCK\":%d,\"VMADDR_CID_HOST\":%u,\"SNP_CERTS_MAX\":%u,\"CSV_REQUEST_LEN\":%d,\"CSV_DEFAULT_LEN\":%d}}\n",
         TDX_REPORTDATA_LEN, TDX_REPORT_LEN, AF_VSOCK, (unsigned)VMADDR_CID_HOST, AENV_SNP_CERTS_MAX, AENV_CSV_REQUEST_LEN, AENV_CSV_DEFAULT_LEN);
  return 0;
}

// -------------------------------------------------------------------- TDX ---

static int cmd_tdx_report(const struct opts *o) {
  struct tdx_report_req req;
  memset(&req, 0, sizeof req);
  read_exact_hex(req.reportdata, sizeof req.reportdata);
  int fd = open_device(o);
  if (ioctl(fd, TDX_CMD_GET_REPORT0, &req) != 0) fail("ioctl TDX_CMD_GET_REPORT0", errno, NULL);
  close(fd);
  printf("{\"tdreport\":\"");
  put_hex(stdout, req.tdreport, sizeof req.tdreport);
  printf("\"}\n");
  return 0;
}

// ---------------------------------------------------------------- SEV-SNP ---

static void snp_fail(const char *what, int e, const struct snp_guest_request_ioctl *g) __attribute__((noreturn));
static void snp_fail(const char *what, int e, const struct snp_guest_request_ioctl *g) {
  char extra[96];
  snprintf(extra, sizeof extra, "\"fw_error\":%u,\"vmm_error\":%u", g->fw_error, g->vmm_error);
  fail(what, e, extra);
}

static int cmd_snp_report(const struct opts *o, int extended) {
  struct snp_ext_report_req ext;
  struct snp_report_resp resp;
  struct snp_guest_request_ioctl g;
  memset(&ext, 0, sizeof ext);
  memset(&resp, 0, sizeof resp);
  read_exact_hex(ext.data.user_data, sizeof ext.data.user_data);
  ext.data.vmpl = (uint32_t)o->vmpl;
  int fd = open_device(o);

  uint8_t *certs = NULL;
  uint32_t certs_len = 0;
  int retried = 0;
  if (extended) {
    certs_len = o->certs_len ? (uint32_t)o->certs_len : AENV_SNP_CERTS_MAX;
    if (certs_len % AENV_PAGE) usage("--certs-len must be a multiple of 4096");
  }
  for (;;) {
    memset(&g, 0, sizeof g);
    g.msg_version = (uint8_t)(o->msg_version ? o->msg_version : 1);
    g.resp_data = (uint64_t)(uintptr_t)&resp;
    int rc;
    if (extended) {
      free(certs);
      certs = aligned_alloc(AENV_PAGE, certs_len);
      if (!certs) fail("allocate the certificate buffer", ENOMEM, NULL);
      memset(certs, 0, certs_len);
      ext.certs_address = (uint64_t)(uintptr_t)certs;
      ext.certs_len = certs_len;
      g.req_data = (uint64_t)(uintptr_t)&ext;
      rc = ioctl(fd, SNP_GET_EXT_REPORT, &g);
    } else {
      g.req_data = (uint64_t)(uintptr_t)&ext.data;
      rc = ioctl(fd, SNP_GET_REPORT, &g);
    }
    if (rc == 0) break;
    int e = errno;
    // The host's certificates need a larger buffer: the kernel completed the
    // request without them and wrote the needed size into certs_len. One retry.
    if (extended && !retried && e == EIO && g.vmm_error == AENV_SNP_VMM_ERR_INVALID_LEN && ext.certs_len > certs_len &&
        ext.certs_len <= AENV_SNP_CERTS_MAX && ext.certs_len % AENV_PAGE == 0) {
      certs_len = ext.certs_len;
      retried = 1;
      continue;
    }
    snp_fail(extended ? "ioctl SNP_GET_EXT_REPORT" : "ioctl SNP_GET_REPORT", e, &g);
  }
  close(fd);
  printf("{\"resp\":\"");
  put_hex(stdout, resp.data, sizeof resp.data);
  printf("\"");
  if (extended) {
    printf(",\"certs_len\":%u,\"retried\":%s,\"certs\":\"", certs_len, retried ? "true" : "false");
    put_hex(stdout, certs, certs_len);
    printf("\"");
  }
  printf("}\n");
  free(certs);
  return 0;
}

// -------------------------------------------------------------------- CSV ---

static int cmd_csv_report(const struct opts *o) {
  size_t len = o->len ? (size_t)o->len : AENV_CSV_DEFAULT_LEN;
  uint8_t *buf = calloc(1, len);
  if (!buf) fail("allocate the report buffer", ENOMEM, NULL);
  read_exact_hex(buf, AENV_CSV_REQUEST_LEN);
  struct aenv_csv_report_req req = { .report_data = buf, .len = (int)len };
  int fd = open_device(o);
  if (ioctl(fd, AENV_CSV_CMD_GET_REPORT, &req) != 0) fail("ioctl CSV_CMD_GET_REPORT", errno, NULL);
  close(fd);
  printf("{\"report\":\"");
  put_hex(stdout, buf, len);
  printf("\"}\n");
  free(buf);
  return 0;
}

// ------------------------------------------------------------- vsock QGS ----

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wait_fd(int s, short ev, long long deadline, const char *what) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) fail(what, ETIMEDOUT, NULL);
    struct pollfd p = { .fd = s, .events = ev };
    int r = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));
    if (r > 0) return;
    if (r < 0 && errno != EINTR) fail(what, errno, NULL);
  }
}

static void send_all(int s, const uint8_t *b, size_t n, long long deadline) {
  while (n > 0) {
    wait_fd(s, POLLOUT, deadline, "vsock send");
    ssize_t w = send(s, b, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail("vsock send", errno, NULL);
    }
    b += w;
    n -= (size_t)w;
  }
}

static void recv_all(int s, uint8_t *b, size_t n, long long deadline) {
  while (n > 0) {
    wait_fd(s, POLLIN, deadline, "vsock recv");
    ssize_t r = recv(s, b, n, 0);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail("vsock recv", errno, NULL);
    }
    if (r == 0) fail("vsock recv: the QGS closed the connection early", EPIPE, NULL);
    b += r;
    n -= (size_t)r;
  }
}

// The QGS wire framing (Intel DCAP qgs_server / libtdx_attest): a 4-byte
// big-endian length, then the message; the answer is framed the same way.
static int cmd_vsock_xfer(const struct opts *o) {
  if (o->port <= 0) usage("--port is required");
  uint8_t *msg = malloc(AENV_QGS_MAX_MSG);
  if (!msg) fail("allocate", ENOMEM, NULL);
  size_t n = read_hex_stdin(msg + 4, AENV_QGS_MAX_MSG - 4);
  if (n == 0) usage("stdin must hold the QGS message (hex)");
  msg[0] = (uint8_t)(n >> 24);
  msg[1] = (uint8_t)(n >> 16);
  msg[2] = (uint8_t)(n >> 8);
  msg[3] = (uint8_t)n;
  long long deadline = now_ms() + (o->timeout_ms ? o->timeout_ms : 30000);

  int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) fail("vsock socket", errno, NULL);
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof addr);
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = (unsigned)(o->cid >= 0 ? o->cid : VMADDR_CID_HOST);
  addr.svm_port = (unsigned)o->port;
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
    if (errno != EINPROGRESS) fail("vsock connect", errno, NULL);
    wait_fd(s, POLLOUT, deadline, "vsock connect");
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
    if (err) fail("vsock connect", err, NULL);
  }
  send_all(s, msg, n + 4, deadline);
  uint8_t hdr[4];
  recv_all(s, hdr, 4, deadline);
  uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (len == 0 || len > AENV_QGS_MAX_MSG) fail("vsock recv: the QGS answer has an implausible length", EPROTO, NULL);
  uint8_t *body = malloc(len);
  if (!body) fail("allocate", ENOMEM, NULL);
  recv_all(s, body, len, deadline);
  close(s);
  printf("{\"body\":\"");
  put_hex(stdout, body, len);
  printf("\"}\n");
  free(body);
  free(msg);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) usage("aenv-tee-helper layout|tdx-report|snp-report|snp-ext-report|csv-report|vsock-xfer [options]");
  struct opts o = { .cid = -1 };
  const char *cmd = argv[1];
  parse_opts(argc, argv, &o);
  if (!strcmp(cmd, "layout")) return cmd_layout();
  if (!strcmp(cmd, "tdx-report")) return cmd_tdx_report(&o);
  if (!strcmp(cmd, "snp-report")) return cmd_snp_report(&o, 0);
  if (!strcmp(cmd, "snp-ext-report")) return cmd_snp_report(&o, 1);
  if (!strcmp(cmd, "csv-report")) return cmd_csv_report(&o);
  if (!strcmp(cmd, "vsock-xfer")) return cmd_vsock_xfer(&o);
  usage("unknown command");
}
