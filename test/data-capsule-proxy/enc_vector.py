"""An independent implementation of Trustflow's `.enc` block format, used by the
TypeScript tests as a cross-check (Python `cryptography` AESGCM, written from the
format description in docs/offline.md, not from the TypeScript code).

  enc_vector.py encrypt <key_b64> <plain_in> <enc_out>
  enc_vector.py decrypt <key_b64> <enc_in> <plain_out>

Like Trustflow's Python SDK, an empty plaintext is written as packet_count 0
followed by one empty block.
"""
import base64
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HEADER = struct.Struct("<IIQI")  # version, schema, packet_count, block_len
BLOCK_LEN = 0x2000
FIELD = 32
BLOCK_HDR = 1 + FIELD + 1 + FIELD
DATA_PER_BLOCK = BLOCK_LEN - BLOCK_HDR


def encrypt(key: bytes, src: str, dst: str) -> None:
    size = os.path.getsize(src)
    count = -(-size // DATA_PER_BLOCK)  # ceil; 0 for an empty file, as the SDK does
    aead = AESGCM(key)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(HEADER.pack(1, 1, count, BLOCK_LEN))
        for _ in range(max(count, 1)):
            chunk = fin.read(DATA_PER_BLOCK)
            iv = os.urandom(12)
            sealed = aead.encrypt(iv, chunk, None)
            ct, tag = sealed[:-16], sealed[-16:]
            fout.write(bytes([12]) + iv.ljust(FIELD, b"\0"))
            fout.write(bytes([16]) + tag.ljust(FIELD, b"\0"))
            fout.write(ct)


def decrypt(key: bytes, src: str, dst: str) -> None:
    aead = AESGCM(key)
    with open(src, "rb") as fin:
        data = fin.read()
    version, schema, count, block_len = HEADER.unpack_from(data, 0)
    assert (version, schema) == (1, 1), "bad version/schema"
    body = data[HEADER.size:]
    assert len(body) <= block_len * max(count, 1), "trailing data"
    assert count == 0 or len(body) > (count - 1) * block_len, "truncated"
    out = bytearray()
    for i in range(max(count, 1)):
        block = body[i * block_len:(i + 1) * block_len]
        if not block and count == 0:
            break
        iv_len, mac_len = block[0], block[1 + FIELD]
        iv = block[1:1 + iv_len]
        tag = block[2 + FIELD:2 + FIELD + mac_len]
        out += aead.decrypt(iv, block[BLOCK_HDR:] + tag, None)
    with open(dst, "wb") as fout:
        fout.write(out)


def main() -> int:
    op, key_b64, src, dst = sys.argv[1:5]
    key = base64.b64decode(key_b64, validate=True)
    assert len(key) in (16, 32), "key must be 16 or 32 bytes"
    {"encrypt": encrypt, "decrypt": decrypt}[op](key, src, dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
