#!/usr/bin/env python3
"""Independent client of the online scenario (no code shared with the TypeScript side).

1. GET /.well-known/attestation?nonce=<random> through Envoy.
2. Verify it: the sim quote's ECDSA P-256 signature under a trusted sim key, its
   report data == SHA-256(nonce) || keySetDigest, keySetDigest recomputed from the
   served JWKs (u32be(len(SPKI DER)) || SPKI DER per key), kids == SHA-256(SPKI)[:16].
3. Encrypt the message with jwcrypto (RSA-OAEP-256 or ECDH-ES/X25519, RFC 7516),
   or, with --compat trustflow, the way Trustflow's client does (cryptography:
   RSA-OAEP-SHA256 + AES-128-GCM with empty AAD), POST it, decrypt and print the reply.

usage: client.py --url URL --sim-key FILE [--message hello] [--alg RSA-OAEP-256|ECDH-ES|ECDH-ES+A256KW]
                 [--compat rfc7516|trustflow]
"""
import argparse
import base64
import hashlib
import json
import os
import struct
import sys
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwcrypto import jwe, jwk


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def http(url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def spki_der(j: dict) -> bytes:
    return _public_key(j).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _public_key(j: dict):
    k = jwk.JWK(**j)
    pem = k.export_to_pem(private_key=False, password=None)
    return serialization.load_pem_public_key(pem)


def verify_document(doc: dict, nonce: str, sim_key_pem: bytes) -> list:
    if doc.get("nonce") != nonce:
        raise ValueError("nonce mismatch")
    keys = doc["jwks"]["keys"]
    digest = hashlib.sha256()
    for j in keys:
        if "d" in j:
            raise ValueError("private key material in jwks")
        der = spki_der(j)
        if j["kid"] != b64u(hashlib.sha256(der).digest())[:16]:
            raise ValueError("kid does not match key")
        digest.update(struct.pack(">I", len(der)) + der)
    expected = hashlib.sha256(nonce.encode()).digest() + digest.digest()
    if doc["binding"].lower() != expected.hex():
        raise ValueError("binding mismatch")
    ev = doc["evidence"]
    if ev["platform"] != "sim":
        raise ValueError("this demo client verifies only the sim platform")
    quote = base64.b64decode(ev["quote"])
    if quote[:8] != b"AENV-SIM" or struct.unpack("<H", quote[8:10])[0] != 1:
        raise ValueError("not a sim quote v1")
    sim_pub = serialization.load_pem_public_key(sim_key_pem)
    sim_der = sim_pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if quote[20:52] != hashlib.sha256(sim_der).digest():
        raise ValueError("quote signed by an untrusted sim key")
    if quote[52:116] != expected:
        raise ValueError("quote report data is not sha256(nonce)||keySetDigest")
    signed, sig = quote[:-64], quote[-64:]
    der_sig = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    sim_pub.verify(der_sig, signed, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    return keys


def main(argv: list) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--sim-key", required=True)
    ap.add_argument("--message", default="hello")
    ap.add_argument("--alg", default="RSA-OAEP-256", choices=["RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A256KW"])
    ap.add_argument("--compat", default="rfc7516", choices=["rfc7516", "trustflow"])
    a = ap.parse_args(argv)
    base = a.url.rstrip("/")
    nonce = b64u(os.urandom(24))
    status, body = http(f"{base}/.well-known/attestation?nonce={nonce}")
    if status != 200:
        print(f"attestation: HTTP {status}: {body[:200]!r}", file=sys.stderr)
        return 1
    with open(a.sim_key, "rb") as f:
        keys = verify_document(json.loads(body), nonce, f.read())
    if a.alg == "RSA-OAEP-256":
        key = next(k for k in keys if k["kty"] == "RSA")
    else:
        key = next(k for k in keys if k.get("crv") == "X25519")

    if a.compat == "trustflow":
        # Trustflow's client: 16-byte CEK, RSA-OAEP-256, AES-128-GCM, AAD = b"" (not the header).
        cek, iv = AESGCM.generate_key(128), os.urandom(12)
        ek = _public_key(key).encrypt(cek, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        ct = AESGCM(cek).encrypt(iv, a.message.encode(), b"")
        req = {"protected": b64u(b'{"alg":"RSA-OAEP-256","enc":"A128GCM"}'), "encrypted_key": b64u(ek), "iv": b64u(iv),
               "aad": "", "ciphertext": b64u(ct[:-16]), "tag": b64u(ct[-16:])}
        enc = "A128GCM"
    else:
        enc = "A128GCM"
        e = jwe.JWE(a.message.encode(), json.dumps({"alg": a.alg, "enc": enc, "kid": key["kid"]}))
        e.add_recipient(jwk.JWK(**key))
        req = json.loads(e.serialize(compact=False))
        cek = e.cek
    status, body = http(f"{base}/", json.dumps(req).encode(), {"content-type": "application/json"})
    if status != 200:
        print(f"app: HTTP {status}: {body[:300]!r}", file=sys.stderr)
        return 1
    resp = json.loads(body)
    if a.compat == "trustflow":
        if resp.get("encrypted_key") != "" or resp.get("aad") != "":
            raise ValueError("not Trustflow's response form")
        pt = AESGCM(cek).decrypt(unb64u(resp["iv"]), unb64u(resp["ciphertext"]) + unb64u(resp["tag"]), b"")
    else:
        r = jwe.JWE()
        r.deserialize(json.dumps(resp), key=jwk.JWK(kty="oct", k=b64u(cek)))
        if json.loads(unb64u(resp["protected"])).get("alg") != "dir":
            raise ValueError("response alg is not dir")
        pt = r.payload
    print(pt.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
