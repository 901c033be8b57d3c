// aenv-enc-block: opens runs of `.enc` blocks (AES-GCM, one IV and tag per
// block; data-capsule-proxy/core/enc-format.ts has the format) in one call, a
// Node-API addon. Node's crypto API costs a decipher object, a key schedule and
// four JS<->C++ crossings per 8 KiB block, ~3x the AES-GCM work itself; here one
// EVP context (the key scheduled once) serves every block of the call.
//
// It links against no library: the OpenSSL it calls is the one inside the node
// binary (node exports libcrypto's symbols; its headers are in
// /usr/include/node/openssl). Built by scripts/setup.sh into .tools/lib.
//
//   openBlocks(key, src, srcOff, blockLen, count, dst, dstOff) -> number
//     decrypts `count` consecutive whole blocks of `blockLen` bytes from
//     src[srcOff..] into dst[dstOff..] (blockLen - 66 plaintext bytes each).
//     Returns the plaintext bytes written (>= 0), or -(1 + i) when block i
//     (counted from srcOff) is malformed or fails authentication: the caller
//     opens that block again on its own path for the exact error. dst bytes
//     of a failed block and of the blocks after it are unspecified; the caller
//     never releases them.
//
// Arguments are checked here (types, lengths, bounds) and a bad call throws a
// TypeError/RangeError; nothing is ever read or written out of bounds.
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define IV_LEN 12
#define MAC_LEN 16
#define IV_FIELD 32
#define MAC_FIELD 32
#define BLOCK_HEADER_LEN (1 + IV_FIELD + 1 + MAC_FIELD)
#define MAX_BLOCK_LEN (16 * 1024 * 1024)

static napi_value fail(napi_env env, int range, const char *msg) {
  if (range) napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  else napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static int get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_buf = false;
  if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf) return 0;
  void *p = NULL;
  if (napi_get_buffer_info(env, v, &p, len) != napi_ok) return 0;
  *data = (uint8_t *)p;
  return 1;
}

static int get_index(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 9007199254740991.0) || d != (double)(int64_t)d) return 0;
  *out = (int64_t)d;
  return 1;
}

static napi_value open_blocks(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7) return fail(env, 0, "openBlocks takes 7 arguments");
  uint8_t *key, *src, *dst;
  size_t key_len, src_len, dst_len;
  int64_t src_off, block_len, count, dst_off;
  if (!get_buffer(env, argv[0], &key, &key_len)) return fail(env, 0, "key must be a Buffer");
  if (!get_buffer(env, argv[1], &src, &src_len)) return fail(env, 0, "src must be a Buffer");
  if (!get_index(env, argv[2], &src_off) || !get_index(env, argv[3], &block_len) || !get_index(env, argv[4], &count) || !get_index(env, argv[6], &dst_off))
    return fail(env, 0, "srcOff, blockLen, count and dstOff must be non-negative integers");
  if (!get_buffer(env, argv[5], &dst, &dst_len)) return fail(env, 0, "dst must be a Buffer");
  const EVP_CIPHER *cipher = key_len == 16 ? EVP_aes_128_gcm() : key_len == 32 ? EVP_aes_256_gcm() : NULL;
  if (!cipher) return fail(env, 1, "key must be 16 or 32 bytes");
  if (block_len <= BLOCK_HEADER_LEN || block_len > MAX_BLOCK_LEN) return fail(env, 1, "blockLen out of range");
  const int64_t data_len = block_len - BLOCK_HEADER_LEN;
  // Bounds, without overflow: count * block_len <= src_len - src_off, likewise dst.
  if ((uint64_t)src_off > src_len || (uint64_t)dst_off > dst_len) return fail(env, 1, "offset beyond the buffer");
  if ((uint64_t)count > ((uint64_t)src_len - (uint64_t)src_off) / (uint64_t)block_len) return fail(env, 1, "src holds fewer than count blocks");
  if ((uint64_t)count > ((uint64_t)dst_len - (uint64_t)dst_off) / (uint64_t)data_len) return fail(env, 1, "dst has no room for count blocks");

  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx || EVP_DecryptInit_ex(ctx, cipher, NULL, key, NULL) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return fail(env, 1, "cannot set up AES-GCM");
  }
  int64_t result = 0;
  for (int64_t i = 0; i < count; i++) {
    const uint8_t *b = src + src_off + i * block_len;
    uint8_t *out = dst + dst_off + i * data_len;
    int n = 0, m = 0;
    if (b[0] != IV_LEN || b[1 + IV_FIELD] != MAC_LEN ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, b + 1) != 1 ||
        EVP_DecryptUpdate(ctx, out, &n, b + BLOCK_HEADER_LEN, (int)data_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, MAC_LEN, (void *)(b + 2 + IV_FIELD)) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + n, &m) != 1 || n + m != data_len) {
      result = -(1 + i);
      break;
    }
    result += data_len;
  }
  EVP_CIPHER_CTX_free(ctx); // clears the key schedule
  napi_value r;
  napi_create_double(env, (double)result, &r);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "openBlocks", NAPI_AUTO_LENGTH, open_blocks, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "openBlocks", fn) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
