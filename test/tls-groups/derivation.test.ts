import t from 'tap';
import { X509Certificate, generateKeyPairSync, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import {
  issueGroupTlsAsset, deriveSharedGroupAsset, deriveGroupCa, verifyGroupMember, trustedGroupCas, TlsGroupError,
  EVIDENCE_EXTENSION_OID, parseGroupUri, findEvidenceExtension, encodeOid,
} from '../../tls-groups/index.ts';
import { deriveGroupKey } from '../../tls-groups/core/group-key.ts';
import { golden } from './golden.ts';
import { DATA_KEY, SIM_CLAIMS, EVIDENCE_DIGEST, p256 } from './fixtures.ts';

const base = { dataKey: DATA_KEY, scope: 'default', dataUuid: 'data-1' };
const NOW = new Date('2026-06-01T12:00:00Z');

t.test('group key and CA are deterministic (golden)', async (t) => {
  const g = deriveGroupKey(base);
  // Golden values: changing the derivation changes every deployed group.
  t.equal(g.groupId, deriveGroupKey({ ...base }).groupId);
  t.equal(g.groupId, golden('group-id.txt', g.groupId), 'group id matches the golden file');
  const a = await deriveGroupCa(base);
  const b = await deriveGroupCa({ dataKey: Buffer.from(DATA_KEY), scope: 'default', dataUuid: 'data-1' });
  t.equal(a.caCertPem, b.caCertPem, 'two derivations give byte-identical CA certs');
  t.equal(a.caCertPem, golden('group-ca.pem', a.caCertPem), 'CA certificate matches the golden file');
  const shared = await deriveSharedGroupAsset(base);
  t.equal(shared.certPem, golden('shared-cert.pem', shared.certPem), 'shared-asset certificate matches the golden file');
  t.equal(deriveGroupKey({ ...base, scope: '' }).groupId, g.groupId, 'empty scope means "default"');
  const ca = new X509Certificate(a.caCertPem);
  t.ok(ca.ca, 'CA flag set');
  t.ok(ca.verify(ca.publicKey), 'self-signed');
  t.equal(ca.publicKey.asymmetricKeyType, 'ed25519');
});

t.test('a different data key, scope, uuid or epoch gives a different group and CA', async (t) => {
  const ref = await deriveGroupCa(base);
  const variants = [
    { ...base, dataKey: Buffer.alloc(32, 1) },
    { ...base, scope: 'other' },
    { ...base, dataUuid: 'data-2' },
    { ...base, epoch: 1 },
    // length prefixing: moving a character between fields must not collide
    { ...base, scope: 'defaultd', dataUuid: 'ata-1' },
  ];
  const seen = new Set([ref.groupId]);
  for (const v of variants) {
    const d = await deriveGroupCa(v);
    t.not(d.caCertPem, ref.caCertPem);
    t.notOk(seen.has(d.groupId), `distinct group id for ${JSON.stringify({ ...v, dataKey: undefined })}`);
    seen.add(d.groupId);
    t.notOk(new X509Certificate(ref.caCertPem).checkIssued(new X509Certificate(d.caCertPem)) && new X509Certificate(d.caCertPem).verify(new X509Certificate(ref.caCertPem).publicKey), 'not signed by the other CA');
  }
});

t.test('leaf: certifies the app key, verifies to the CA, carries party, claims and evidence', async (t) => {
  const app = p256();
  const asset = await issueGroupTlsAsset({ ...base, partyId: 'bob', subjectPublicKeyPem: app.publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST, validitySeconds: 600, now: NOW });
  const leaf = new X509Certificate(asset.leafCertPem);
  const ca = new X509Certificate(asset.caCertPem);
  t.ok(leaf.verify(ca.publicKey), 'leaf signature verifies with the CA key (node:crypto)');
  t.ok(leaf.checkIssued(ca), 'issuer/AKI chain to the CA');
  t.ok(leaf.checkPrivateKey(app.privateKey), 'leaf certifies the app\'s own key');
  t.notOk(leaf.ca);
  t.equal(asset.notAfter.toISOString(), '2026-06-01T12:10:00.000Z');
  t.equal(new Date(leaf.validTo).toISOString(), asset.notAfter.toISOString());
  t.equal(new Date(leaf.validFrom).toISOString(), '2026-06-01T11:59:00.000Z', 'backdated by the clock skew');
  t.match(leaf.subjectAltName, `URI:aenv://group/${asset.groupId}/party/bob`);
  t.match(leaf.subjectAltName, /URI:aenv:\/\/tee\/sim\?debug=0&insecure=1&tcb=UpToDate&m\.mr_td=(ab){48}&m\.rtmr3=(cd){48}/);
  t.same(parseGroupUri(`aenv://group/${asset.groupId}/party/bob`), { groupId: asset.groupId, partyId: 'bob', shared: false });
  const ev = findEvidenceExtension(leaf.raw);
  t.same(ev, { evidenceDigest: EVIDENCE_DIGEST, platform: 'sim' }, 'evidence digest extension round-trips');
  t.ok(leaf.raw.includes(encodeOid(EVIDENCE_EXTENSION_OID)), `extension under ${EVIDENCE_EXTENSION_OID}`);
  // determinism of the leaf too: same request at the same second -> same bytes
  const again = await issueGroupTlsAsset({ ...base, partyId: 'bob', subjectPublicKeyPem: app.publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST, validitySeconds: 600, now: NOW });
  t.equal(again.leafCertPem, asset.leafCertPem, 'replicas issue identical leaves for identical requests');

  const member = verifyGroupMember(asset.leafCertPem, trustedGroupCas([{ groupId: asset.groupId, caCertPem: asset.caCertPem }]), new Date(NOW.getTime() + 1000));
  t.equal(member.partyId, 'bob');
  t.equal(member.groupId, asset.groupId);
  t.equal(member.claims?.platform, 'sim');
  t.equal(member.evidence?.evidenceDigest.toString('hex'), EVIDENCE_DIGEST.toString('hex'));
  t.throws(() => verifyGroupMember(asset.leafCertPem, trustedGroupCas([{ groupId: asset.groupId, caCertPem: asset.caCertPem }]), new Date(NOW.getTime() + 601_000)), { code: 'CERT_EXPIRED' });
  t.throws(() => verifyGroupMember(asset.leafCertPem, trustedGroupCas([{ groupId: asset.groupId, caCertPem: asset.caCertPem }]), new Date(NOW.getTime() - 120_000)), { code: 'CERT_NOT_YET_VALID' });
  const other = await deriveGroupCa({ ...base, dataUuid: 'data-2' });
  t.throws(() => verifyGroupMember(asset.leafCertPem, trustedGroupCas([{ groupId: other.groupId, caCertPem: other.caCertPem }]), NOW), { code: 'NOT_A_MEMBER' });
  // a CA of another group registered under this group's id: signature check fails
  t.throws(() => verifyGroupMember(asset.leafCertPem, trustedGroupCas([{ groupId: asset.groupId, caCertPem: other.caCertPem }]), NOW), { code: 'NOT_A_MEMBER' });
});

t.test('leaf for an RSA app key; unsupported keys and bad input are refused', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const asset = await issueGroupTlsAsset({ ...base, partyId: 'carol', subjectPublicKeyPem: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST });
  t.ok(new X509Certificate(asset.leafCertPem).checkPrivateKey(rsa.privateKey));
  const ok = { ...base, partyId: 'bob', subjectPublicKeyPem: p256().publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST };
  const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const cases: Array<[string, object, string]> = [
    ['ed25519 key', { subjectPublicKeyPem: ed }, 'UNSUPPORTED_PUBLIC_KEY'],
    ['P-384 key', { subjectPublicKeyPem: p384 }, 'UNSUPPORTED_PUBLIC_KEY'],
    ['garbage key', { subjectPublicKeyPem: 'nope' }, 'UNSUPPORTED_PUBLIC_KEY'],
    ['short data key', { dataKey: Buffer.alloc(8) }, 'BAD_DATA_KEY'],
    ['empty uuid', { dataUuid: '' }, 'BAD_GROUP_CONTEXT'],
    ['party id with slash', { partyId: 'a/b' }, 'BAD_PARTY_ID'],
    ['digest not 32 bytes', { evidenceDigest: Buffer.alloc(20) }, 'BAD_EVIDENCE_DIGEST'],
    ['validity too long', { validitySeconds: 30 * 24 * 3600 }, 'BAD_VALIDITY'],
    ['validity too short', { validitySeconds: 5 }, 'BAD_VALIDITY'],
  ];
  for (const [name, patch, code] of cases) {
    await t.rejects(issueGroupTlsAsset({ ...ok, ...patch } as Parameters<typeof issueGroupTlsAsset>[0]), { code }, name);
  }
  t.ok(TlsGroupError.codes.NOT_A_MEMBER);
});

t.test('shared asset (Trustflow form): deterministic, key matches cert, verifies to the CA', async (t) => {
  const a = await deriveSharedGroupAsset(base);
  const b = await deriveSharedGroupAsset({ ...base });
  t.equal(a.certPem, b.certPem, 'identical certificate');
  t.equal(a.privateKeyPem, b.privateKeyPem, 'identical key');
  t.match(a.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  const cert = new X509Certificate(a.certPem);
  t.ok(cert.checkPrivateKey(createPrivateKey(a.privateKeyPem)));
  t.ok(cert.verify(new X509Certificate(a.caCertPem).publicKey));
  t.equal(createPublicKey(a.privateKeyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const m = verifyGroupMember(a.certPem, trustedGroupCas([{ groupId: a.groupId, caCertPem: a.caCertPem }]));
  t.same([m.shared, m.partyId], [true, undefined]);
  const c = await deriveSharedGroupAsset({ ...base, dataUuid: 'x' });
  t.not(c.privateKeyPem, a.privateKeyPem);
  // the key signs and verifies (a real P-256 key, not a malformed scalar)
  const sig = sign('sha256', Buffer.from('m'), createPrivateKey(a.privateKeyPem));
  t.ok(verify('sha256', Buffer.from('m'), cert.publicKey, sig));
});
