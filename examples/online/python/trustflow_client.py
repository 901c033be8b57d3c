#!/usr/bin/env python3
"""A client that speaks to the demo exactly as Trustflow's sample online client does.

Written for this project (no code shared with Trustflow or with the TypeScript side),
it makes the same requests on the wire as Trustflow's published sample:
1. POST <url>/RaProxy/GetRaCert with {"nonce": <32 hex chars>}; take "cert".
   (Trustflow's sample skips the report check in sim mode; so does this client:
   `aenv client --trustflow` is the client that verifies it.)
2. Build the envelope: header json.dumps({"alg": "RSA-OAEP-256", "enc": "A128GCM"})
   (Python's default separators), a random 16-byte key wrapped with RSA-OAEP
   (SHA-256, MGF1-SHA-256) to the cert's key, AES-128-GCM with a 12-byte IV and
   the empty aad member as the GCM additional data; members base64url without padding.
3. POST it to <url>/teeapp with Content-Type application/json; decrypt the
   response with the same key and its aad member; print it.

usage: trustflow_client.py [--url http://localhost:50001] [--path /teeapp] [--message hello]
"""
import argparse
import base64
import json
import secrets
import sys
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode("ascii").rstrip("=")


def unb64u(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def post_json(url: str, body: str):
    req = urllib.request.Request(url, data=body.encode("utf-8"), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main(argv: list) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://localhost:50001")
    ap.add_argument("--path", default="/teeapp")
    ap.add_argument("--message", default="hello")
    a = ap.parse_args(argv)
    base = a.url.rstrip("/")

    status, body = post_json(f"{base}/RaProxy/GetRaCert", json.dumps({"nonce": secrets.token_hex(16)}))
    if status != 200:
        print(f"GetRaCert: HTTP {status}: {body[:300]!r}", file=sys.stderr)
        return 1
    ra = json.loads(body)
    public_key = x509.load_pem_x509_certificate(ra["cert"].encode("utf-8")).public_key()

    data_key, iv, aad = secrets.token_bytes(16), secrets.token_bytes(12), b""
    sealed = AESGCM(data_key).encrypt(iv, a.message.encode("utf-8"), aad)
    wrapped = public_key.encrypt(data_key, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    envelope = {
        "protected": b64u(json.dumps({"alg": "RSA-OAEP-256", "enc": "A128GCM"}).encode("utf-8")),
        "encrypted_key": b64u(wrapped),
        "iv": b64u(iv),
        "aad": b64u(aad),
        "ciphertext": b64u(sealed[:-16]),
        "tag": b64u(sealed[-16:]),
    }
    status, body = post_json(f"{base}{a.path}", json.dumps(envelope))
    if status != 200:
        print(f"app: HTTP {status}: {body[:300]!r}", file=sys.stderr)
        return 1
    resp = json.loads(body)
    plain = AESGCM(data_key).decrypt(unb64u(resp["iv"]), unb64u(resp["ciphertext"]) + unb64u(resp["tag"]), unb64u(resp["aad"]))
    print("Response Raw:", plain.decode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
