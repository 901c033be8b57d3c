"""An independent Trustflow-style capsule manager client (jwcrypto + cryptography),
written from the wire description only: it generates an RSA party key and a
self-signed cert, computes party_id = base32(SHA-256(SPKI DER)) unpadded, signs
the request JSON as a JWS (RS256, x5c), encrypts that JWS JSON as a flattened JWE
(RSA-OAEP-256, A128GCM) to the CM cert from GetRaCert, posts EncryptedRequest to
the HTTP API and decrypts the EncryptedResponse. Prints one JSON line of results."""
import base64, datetime, hashlib, json, sys, urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwcrypto import jwe, jwk, jws

base = sys.argv[1]


def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "py-party")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
    .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
)
spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
party_id = base64.b32encode(hashlib.sha256(spki).digest()).decode().rstrip("=")
cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
priv = jwk.JWK.from_pem(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

status, ra = post("/api/v1/GetRaCert", {"nonce": "py-nonce"})
cm_key = jwk.JWK.from_pem(x509.load_pem_x509_certificate(ra["cert"].encode()).public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def call(op, request):
    s = jws.JWS(json.dumps(request).encode())
    s.add_signature(priv, None, json.dumps({"alg": "RS256", "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}))
    signed = json.loads(s.serialize())  # flattened: protected, payload, signature
    e = jwe.JWE(json.dumps({"protected": signed["protected"], "payload": signed["payload"], "signature": signed["signature"]}).encode(),
                json.dumps({"alg": "RSA-OAEP-256", "enc": "A128GCM"}))
    e.add_recipient(cm_key)
    msg = json.loads(e.serialize())
    code, body = post("/api/v1/" + op, {"message": msg, "has_signature": True})
    if code != 200:
        return code, body
    out = jwe.JWE()
    out.deserialize(json.dumps(body["message"]), key=priv)
    return code, json.loads(out.payload)


results = {"party_id": party_id, "ra_platform": ra["attestation_report"]["str_tee_platform"]}
results["register"] = call("RegisterCert", {"owner_party_id": party_id, "certs": [cert_pem], "scheme": "RSA"})
results["create_policy"] = call("CreateDataPolicy", {"owner_party_id": party_id, "scope": "", "policy": {"data_uuid": "py-data", "rules": [
    {"rule_id": "r", "grantee_party_ids": [party_id], "columns": ["*"], "op_constraints": [{"op_name": "PSI", "constraints": ["r.env.tee.platform == \"tdx\""]}]}]}})
results["list"] = call("ListDataPolicy", {"owner_party_id": party_id, "scope": ""})
results["not_owner"] = call("ListDataPolicy", {"owner_party_id": "SOMEONEELSE", "scope": ""})
print(json.dumps(results))
