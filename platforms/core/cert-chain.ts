// Certificate chain checks shared by the DCAP and SEV-SNP verifiers: validity
// at the pinned "now", each signature by the next certificate (node:crypto
// handles ECDSA and RSASSA-PSS), and a root that is a configured anchor
// (by SHA-256 fingerprint of its DER, or by an anchor certificate that issued it).
import { X509Certificate } from 'node:crypto';
import { x509 } from '../../foundation/x509.ts';
import { PlatformError } from '../errors.ts';

export interface TrustAnchors {
  /** SHA-256 of DER, lowercase hex. */
  fingerprints: Set<string>;
  certs: X509Certificate[];
}

export function fingerprint(c: X509Certificate): string {
  return c.fingerprint256.replace(/:/g, '').toLowerCase();
}

export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export function parseCert(data: string | Buffer, what: string): X509Certificate {
  try {
    const c = new X509Certificate(data);
    // The key is decoded lazily: read it here so a certificate with an undecodable
    // key is EVIDENCE_MALFORMED, not a raw OpenSSL "decode error" in a later check.
    void c.publicKey;
    return c;
  } catch (cause) {
    throw new PlatformError('EVIDENCE_MALFORMED', `${what} is not a valid X.509 certificate`, { cause });
  }
}

export function anchorsFrom(pems: string[] | undefined, fingerprints: string[]): TrustAnchors {
  const certs = (pems ?? []).flatMap((p) => pemBlocks(p).map((b) => parseCert(b, 'trust anchor')));
  return { fingerprints: new Set([...fingerprints.map((f) => f.toLowerCase().replace(/:/g, '')), ...certs.map(fingerprint)]), certs };
}

function name(c: X509Certificate): string {
  return /CN=([^\n]+)/.exec(c.subject)?.[1] ?? c.subject.replace(/\n/g, ', ');
}

export function checkValidity(c: X509Certificate, now: Date, what: string): void {
  if (now.getTime() > new Date(c.validTo).getTime()) throw new PlatformError('CERT_EXPIRED', `${what} certificate "${name(c)}" expired at ${new Date(c.validTo).toISOString()} (verification time ${now.toISOString()})`);
  if (now.getTime() < new Date(c.validFrom).getTime()) throw new PlatformError('CERT_NOT_YET_VALID', `${what} certificate "${name(c)}" is not valid before ${new Date(c.validFrom).toISOString()}`);
}

/**
 * Verifies `chain` (leaf first). The last certificate must be an anchor itself
 * (self-signed and pinned) or be issued by an anchor certificate.
 */
export function verifyChain(chain: X509Certificate[], anchors: TrustAnchors, now: Date, what: string): void {
  if (chain.length === 0) throw new PlatformError('CHAIN_INVALID', `${what}: empty certificate chain`);
  if (anchors.fingerprints.size === 0) throw new PlatformError('TRUST_ANCHOR_MISSING', `${what}: no trust anchor configured`);
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    checkValidity(c, now, what);
    const issuer = chain[i + 1];
    if (issuer) {
      if (!c.checkIssued(issuer) || !c.verify(issuer.publicKey)) throw new PlatformError('CHAIN_INVALID', `${what}: certificate "${name(c)}" is not signed by "${name(issuer)}"`);
      if (!issuer.ca) throw new PlatformError('CHAIN_INVALID', `${what}: issuer "${name(issuer)}" is not a CA certificate`);
    }
  }
  const last = chain[chain.length - 1]!;
  if (anchors.fingerprints.has(fingerprint(last))) {
    if (!last.verify(last.publicKey)) throw new PlatformError('CHAIN_INVALID', `${what}: root "${name(last)}" self-signature does not verify`);
    return;
  }
  for (const a of anchors.certs) {
    if (last.checkIssued(a) && last.verify(a.publicKey)) {
      checkValidity(a, now, what);
      return;
    }
  }
  throw new PlatformError('UNTRUSTED_ROOT', `${what}: chain ends at "${name(last)}" (sha256 ${fingerprint(last).slice(0, 16)}..), which is not a configured trust anchor`);
}

/** Raw extension value (the OCTET STRING contents) or undefined. */
const parsed = new WeakMap<X509Certificate, x509.X509Certificate>();

export function extensionValue(c: X509Certificate, oid: string): Buffer | undefined {
  let p = parsed.get(c);
  if (!p) {
    p = new x509.X509Certificate(c.raw);
    parsed.set(c, p);
  }
  const e = p.getExtension(oid);
  return e ? Buffer.from(e.value) : undefined;
}
