// Trustflow's shared-asset form (pure): every member of the group receives the
// same certificate and private key. Kept for compatibility with Trustflow
// deployments; it gives no per-party identity (any member can impersonate any
// other) and no revocation short of re-keying the group (bump the epoch).
// Fully deterministic: the P-256 key comes from HKDF, the certificate is
// signed by the Ed25519 group CA over fixed fields.
import { x509 } from '../../foundation/x509.ts';
import { deriveSharedKeyPair } from './derived-keys.ts';
import { CA_NOT_AFTER, CA_NOT_BEFORE, deterministicSerial, type GroupCa } from './group-ca.ts';
import { sharedUri } from './group-identity.ts';

export async function issueSharedAsset(ca: GroupCa, groupKey: Buffer): Promise<{ certPem: string; privateKeyPem: string }> {
  const kp = deriveSharedKeyPair(groupKey);
  const spki = kp.publicKey.export({ type: 'spki', format: 'der' });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: deterministicSerial('shared', ca.groupId),
    subject: `CN=aenv group ${ca.groupId} shared, O=aenv`,
    issuer: ca.cert.subject,
    notBefore: CA_NOT_BEFORE,
    notAfter: CA_NOT_AFTER,
    signingAlgorithm: { name: 'Ed25519' },
    publicKey: spki,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      await x509.SubjectKeyIdentifierExtension.create(spki),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey.export({ type: 'spki', format: 'der' })),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: sharedUri(ca.groupId) }], false),
    ],
  });
  return { certPem: cert.toString('pem'), privateKeyPem: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
