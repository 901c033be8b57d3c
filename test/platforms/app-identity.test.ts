import t from 'tap';
import { mkdtempSync, readFileSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { AGREEMENT_KEY_URI, agreementKeysOfCert, attestationReportData, loadOrCreateAppIdentity, computeKeySetDigest } from '../../platforms/index.ts';
import { selfSignedAppCert } from '../../platforms/core/app-identity.ts';

t.test('app identity is created once with 0600 key files and reloads identically', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'ident-')), 'keys');
  const a = await loadOrCreateAppIdentity(dir);
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.key.pem'))) {
    t.equal(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
  t.equal(statSync(dir).mode & 0o777, 0o700, 'key dir is 0700');
  const b = await loadOrCreateAppIdentity(dir);
  t.equal(b.keySetDigest.toString('hex'), a.keySetDigest.toString('hex'), 'same keys after reload');
  t.equal(b.certPem, a.certPem, 'same cert after reload');
  const cert = new X509Certificate(a.certPem);
  t.ok(cert.publicKey.equals(a.keys.rsa.publicKey), 'cert carries the RSA key');
  t.ok(cert.verify(cert.publicKey), 'cert is self-signed and verifies');
  t.equal(a.jwks().keys.length, 3);
  t.equal(a.byKid(a.keys.x25519.kid)?.name, 'x25519');
  t.equal(a.byKid('nope'), undefined);
});

t.test('report data binds nonce and key set', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ident-'));
  const a = await loadOrCreateAppIdentity(dir);
  const rd = attestationReportData('n-1', a.keySetDigest);
  t.equal(rd.length, 64);
  t.not(rd.toString('hex'), attestationReportData('n-2', a.keySetDigest).toString('hex'), 'nonce changes the binding');
  const fromJwks = computeKeySetDigest(a.jwks().keys.map((j) => createPublicKey({ key: j, format: 'jwk' })));
  t.equal(fromJwks.toString('hex'), a.keySetDigest.toString('hex'), 'a client recomputes the digest from the public JWKS');
});

t.test('the certificate names the agreement keys (subjectAltName URIs); an older certificate is issued anew', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ident-'));
  const a = await loadOrCreateAppIdentity(dir);
  const named = agreementKeysOfCert(a.certPem);
  t.ok(named.x25519?.equals(a.keys.x25519.publicKey), 'names the X25519 key');
  t.ok(named.p256?.equals(a.keys.p256.publicKey), 'names the P-256 key');
  const text = execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], { input: a.certPem, encoding: 'utf8' });
  t.match(text, new RegExp(`URI:${AGREEMENT_KEY_URI}x25519:`), 'openssl shows the URI');
  // A certificate of the same RSA key without the URIs (made before them): re-issued on load.
  const bare = await selfSignedAppCert(a.keys.rsa, 'aenv-app');
  t.same(agreementKeysOfCert(bare), {}, 'a certificate without the URIs names none');
  writeFileSync(join(dir, 'cert.pem'), bare);
  const b = await loadOrCreateAppIdentity(dir);
  t.not(b.certPem, bare, 're-issued');
  t.ok(agreementKeysOfCert(b.certPem).x25519?.equals(a.keys.x25519.publicKey), 'the new certificate names the keys');
  t.equal(readFileSync(join(dir, 'cert.pem'), 'utf8'), b.certPem, 'and is written');
  // A URI whose key is not of the type it says is refused.
  const p256Spki = a.keys.p256.publicKey.export({ type: 'spki', format: 'der' }).toString('base64url');
  const lying = await (async () => {
    const { x509 } = await import('../../foundation/x509.ts');
    const { webcrypto } = await import('node:crypto');
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
    const priv = await webcrypto.subtle.importKey('pkcs8', a.keys.rsa.privateKey.export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']);
    const pub = await webcrypto.subtle.importKey('spki', a.keys.rsa.publicKey.export({ type: 'spki', format: 'der' }), alg, true, ['verify']);
    const c = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=x', keys: { privateKey: priv, publicKey: pub }, signingAlgorithm: alg, extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `${AGREEMENT_KEY_URI}x25519:${p256Spki}` }])] });
    return c.toString('pem');
  })();
  t.throws(() => agreementKeysOfCert(lying), /says x25519 but carries a ec key/);
});
