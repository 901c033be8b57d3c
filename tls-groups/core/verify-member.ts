// Verifies a peer certificate as a member of a known group (pure): signed by
// that group's CA, a member/shared URI naming the group, within validity.
// Used by ext-authz on every (uncached) decision; revocation and policy are the
// caller's business.
import { X509Certificate } from 'node:crypto';
import { TlsGroupError } from '../errors.ts';
import { findEvidenceExtension, type EvidenceExtension } from './evidence-extension.ts';
import { parseClaimsUri, parseGroupUri, type UriClaims } from './group-identity.ts';

export interface GroupMember {
  groupId: string;
  /** undefined for the shared-asset form, which names no party. */
  partyId?: string;
  shared: boolean;
  serial: string;
  /** SHA-256 fingerprint of the DER certificate, hex (the revocation handle). */
  fingerprint: string;
  notAfter: Date;
  evidence?: EvidenceExtension;
  claims?: UriClaims;
}

export interface TrustedGroupCa {
  groupId: string;
  caCertPem: string;
}

function sanUris(cert: X509Certificate): string[] {
  // node renders "URI:a, URI:b"; our URIs never contain ", " (they are percent-encoded).
  return (cert.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
}

export function verifyGroupMember(peerCertPem: string, trusted: ReadonlyMap<string, X509Certificate>, now: Date = new Date()): GroupMember {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(peerCertPem);
  } catch (cause) {
    throw new TlsGroupError('BAD_CERTIFICATE', 'peer certificate is not a valid X.509 certificate', { cause });
  }
  const uris = sanUris(cert);
  const ids = uris.map(parseGroupUri).filter((x) => x !== undefined);
  if (ids.length !== 1) throw new TlsGroupError('NOT_A_MEMBER', `peer certificate must carry exactly one aenv group URI, found ${ids.length}`);
  const id = ids[0]!;
  const ca = trusted.get(id.groupId);
  if (!ca) throw new TlsGroupError('NOT_A_MEMBER', `group ${id.groupId} is not trusted here`);
  if (cert.issuer !== ca.subject || !cert.verify(ca.publicKey)) {
    throw new TlsGroupError('NOT_A_MEMBER', `peer certificate is not issued by the CA of group ${id.groupId}`);
  }
  if (cert.ca) throw new TlsGroupError('NOT_A_MEMBER', 'peer certificate is a CA certificate');
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now < notBefore) throw new TlsGroupError('CERT_NOT_YET_VALID', `peer certificate is valid from ${notBefore.toISOString()}`);
  if (now > notAfter) throw new TlsGroupError('CERT_EXPIRED', `peer certificate expired at ${notAfter.toISOString()}`);
  const evidence = findEvidenceExtension(cert.raw);
  const claimsUri = uris.map(parseClaimsUri).find((c) => c !== undefined);
  return {
    groupId: id.groupId,
    partyId: id.partyId,
    shared: id.shared,
    serial: cert.serialNumber,
    fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    notAfter,
    ...(evidence ? { evidence } : {}),
    ...(claimsUri ? { claims: claimsUri } : {}),
  };
}

/** Builds the trust map from CA PEMs (validates each once). */
export function trustedGroupCas(list: TrustedGroupCa[]): Map<string, X509Certificate> {
  const m = new Map<string, X509Certificate>();
  for (const t of list) {
    let c: X509Certificate;
    try {
      c = new X509Certificate(t.caCertPem);
    } catch (cause) {
      throw new TlsGroupError('BAD_CERTIFICATE', `CA of group ${t.groupId} is not a valid certificate`, { cause });
    }
    if (!c.ca) throw new TlsGroupError('BAD_CERTIFICATE', `CA of group ${t.groupId} is not a CA certificate`);
    m.set(t.groupId, c);
  }
  return m;
}
