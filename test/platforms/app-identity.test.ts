import t from 'tap';
import { mkdtempSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { attestationReportData, loadOrCreateAppIdentity, computeKeySetDigest } from '../../platforms/index.ts';

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
