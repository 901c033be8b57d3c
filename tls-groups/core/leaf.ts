// Short-lived member leaf certificates for an app's own public key (pure).
// The app's private key never reaches the CM: the CM certifies the public key
// bound in the app's verified evidence.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { Claims } from '../../platforms/index.ts';
import { x509 } from '../../foundation/x509.ts';
import { TlsGroupError } from '../errors.ts';
import { evidenceExtension } from './evidence-extension.ts';
import { deterministicSerial, type GroupCa } from './group-ca.ts';
import { claimsUri, memberUri } from './group-identity.ts';
import { derToPem, patchEvidenceOidAndResign } from './resign.ts';

export const DEFAULT_LEAF_VALIDITY_SECONDS = 3600;
export const MIN_LEAF_VALIDITY_SECONDS = 60;
export const MAX_LEAF_VALIDITY_SECONDS = 7 * 24 * 3600;
/** notBefore is backdated so peers with a slightly slow clock accept a fresh leaf. */
export const CLOCK_SKEW_SECONDS = 60;

export interface LeafRequest {
  partyId: string;
  /** The app's own public key (bound in its evidence); its private key never leaves the app. */
  subjectPublicKeyPem: string;
  /** Verified claims of the app's evidence (never from the client). */
  claims: Claims;
  /** SHA-256 of the evidence the CM verified; carried in the leaf (RA-TLS style). */
  evidenceDigest: Buffer;
  validitySeconds?: number;
  now?: Date;
}

/** Envoy serves only RSA (>= 2048 bits) and ECDSA P-256 certificates; reject anything else up front. */
export function parseSubjectPublicKey(pem: string): { key: KeyObject; spki: Buffer; rsa: boolean } {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (cause) {
    throw new TlsGroupError('UNSUPPORTED_PUBLIC_KEY', 'subject public key is not a PEM public key', { cause });
  }
  const d = key.asymmetricKeyDetails ?? {};
  const ok = (key.asymmetricKeyType === 'ec' && d.namedCurve === 'prime256v1') || (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048);
  if (!ok) {
    throw new TlsGroupError('UNSUPPORTED_PUBLIC_KEY', `subject public key must be EC P-256 or RSA >= 2048 bits (Envoy serves no other), got ${key.asymmetricKeyType}${d.namedCurve ? `/${d.namedCurve}` : ''}`);
  }
  return { key, spki: key.export({ type: 'spki', format: 'der' }), rsa: key.asymmetricKeyType === 'rsa' };
}

function seconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

export async function issueLeaf(ca: GroupCa, req: LeafRequest): Promise<{ certPem: string; notBefore: Date; notAfter: Date }> {
  const validity = req.validitySeconds ?? DEFAULT_LEAF_VALIDITY_SECONDS;
  if (!Number.isInteger(validity) || validity < MIN_LEAF_VALIDITY_SECONDS || validity > MAX_LEAF_VALIDITY_SECONDS) {
    throw new TlsGroupError('BAD_VALIDITY', `validitySeconds must be an integer in [${MIN_LEAF_VALIDITY_SECONDS}, ${MAX_LEAF_VALIDITY_SECONDS}]`);
  }
  if (!Buffer.isBuffer(req.evidenceDigest) || req.evidenceDigest.length !== 32) {
    throw new TlsGroupError('BAD_EVIDENCE_DIGEST', 'evidenceDigest must be a 32-byte SHA-256 digest');
  }
  const member = memberUri(ca.groupId, req.partyId);
  const subject = parseSubjectPublicKey(req.subjectPublicKeyPem);
  const now = seconds(req.now ?? new Date());
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_SECONDS * 1000);
  const notAfter = new Date(now.getTime() + validity * 1000);
  const usages = x509.KeyUsageFlags.digitalSignature | (subject.rsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const cert = await x509.X509CertificateGenerator.create({
    // Deterministic too: two replicas asked for the same leaf at the same second agree.
    serialNumber: deterministicSerial('leaf', ca.groupId, req.partyId, createHash('sha256').update(subject.spki).digest('hex'), notBefore.toISOString(), req.evidenceDigest.toString('hex')),
    subject: `CN=${req.partyId}, O=aenv group ${ca.groupId}`,
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: { name: 'Ed25519' },
    publicKey: subject.spki,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      await x509.SubjectKeyIdentifierExtension.create(subject.spki),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey.export({ type: 'spki', format: 'der' })),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: member }, { type: 'url', value: claimsUri(req.claims) }], false),
      evidenceExtension({ evidenceDigest: req.evidenceDigest, platform: req.claims.platform }),
    ],
  });
  return { certPem: derToPem(patchEvidenceOidAndResign(new Uint8Array(cert.rawData), ca.privateKey)), notBefore, notAfter };
}
