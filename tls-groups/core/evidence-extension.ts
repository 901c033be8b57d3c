// The RA-TLS style X.509 extension of a group leaf (pure).
//
// OID arc: 2.25.224860064255237211263050594702798907205 is the UUID
// a92a791d-6210-4774-afe1-9f15d2746745 as an OID (ITU-T X.667 / RFC 4122 §4,
// usable without registration). Sub-arc .1 = attested evidence.
//
//   AenvEvidence ::= SEQUENCE {
//     version        INTEGER (1),
//     evidenceDigest OCTET STRING (SIZE(32)),  -- SHA-256 of the evidence the CM verified
//     platform       UTF8String                -- e.g. "tdx", "sim"
//   }
//
// The extension is non-critical: TLS stacks that do not know it (Envoy,
// BoringSSL) must still accept the chain; aenv's ext-authz reads it.
// Every element is short, so DER lengths are single bytes; the parser is
// strict and rejects anything else.
//
// asn1js (under @peculiar/x509) cannot encode or decode OID arcs above 2^53,
// which every 2.25 UUID arc is: it silently writes "2.25". So the certificate
// is generated with a placeholder OID of the same DER length, the placeholder
// bytes are replaced in the TBS and the TBS is re-signed (see resign.ts); the
// extension is found again by comparing the OID's DER bytes.
import { x509 } from '../../foundation/x509.ts';
import { TlsGroupError } from '../errors.ts';

export const AENV_OID_ARC = '2.25.224860064255237211263050594702798907205';
export const EVIDENCE_EXTENSION_OID = `${AENV_OID_ARC}.1`;

export interface EvidenceExtension {
  evidenceDigest: Buffer;
  platform: string;
}

/** DER of an OBJECT IDENTIFIER with arbitrarily large arcs. */
export function encodeOid(oid: string): Buffer {
  const parts = oid.split('.').map((p) => BigInt(p));
  const body: number[] = [];
  for (const v of [parts[0]! * 40n + parts[1]!, ...parts.slice(2)]) {
    const bytes: number[] = [];
    let x = v;
    do {
      bytes.unshift(Number(x & 0x7fn));
      x >>= 7n;
    } while (x > 0n);
    for (let i = 0; i < bytes.length - 1; i++) bytes[i] = bytes[i]! | 0x80;
    body.push(...bytes);
  }
  return Buffer.concat([Buffer.from([0x06, body.length]), Buffer.from(body)]);
}

export const EVIDENCE_OID_DER = encodeOid(EVIDENCE_EXTENSION_OID);
/** Same DER length as EVIDENCE_OID_DER, small arcs only (asn1js-safe), unlikely to occur elsewhere. */
export const PLACEHOLDER_OID = `2.25.${Array.from({ length: EVIDENCE_OID_DER.length - 4 }, () => '127').join('.')}.1`;
export const PLACEHOLDER_OID_DER = encodeOid(PLACEHOLDER_OID);

/** The non-critical X.509 extension carrying the evidence digest, under the placeholder OID (see above). */
export function evidenceExtension(e: EvidenceExtension): x509.Extension {
  return new x509.Extension(PLACEHOLDER_OID, false, encodeEvidenceExtension(e));
}

/**
 * Finds the evidence extension of a certificate (DER) by its OID bytes;
 * undefined when absent. The raw DER is scanned rather than asking
 * @peculiar/x509, whose parser mangles the OID (see above). The OID's DER
 * contains bytes >= 0x80, so it cannot hide inside the ASCII SAN URIs; call
 * this on a certificate whose signature has been verified.
 */
export function findEvidenceExtension(certDer: Uint8Array): EvidenceExtension | undefined {
  const der = Buffer.from(certDer);
  const at = der.indexOf(EVIDENCE_OID_DER);
  if (at < 0) return undefined;
  if (der.indexOf(EVIDENCE_OID_DER, at + 1) >= 0) throw new TlsGroupError('BAD_CERTIFICATE', 'evidence extension appears twice');
  let i = at + EVIDENCE_OID_DER.length;
  if (der[i] === 0x01) {
    if (der[i + 1] !== 1) throw new TlsGroupError('BAD_CERTIFICATE', 'evidence extension: bad critical flag');
    if (der[i + 2] !== 0) throw new TlsGroupError('BAD_CERTIFICATE', 'evidence extension must not be critical');
    i += 3;
  }
  const len = der[i + 1];
  if (der[i] !== 0x04 || len === undefined || len > 127 || i + 2 + len > der.length) throw new TlsGroupError('BAD_CERTIFICATE', 'evidence extension: bad extnValue');
  return decodeEvidenceExtension(der.subarray(i + 2, i + 2 + len));
}

function tlv(tag: number, value: Buffer): Buffer {
  if (value.length > 127) throw new TlsGroupError('BAD_EVIDENCE_DIGEST', 'evidence extension element too long');
  return Buffer.concat([Buffer.from([tag, value.length]), value]);
}

export function encodeEvidenceExtension(e: EvidenceExtension): Buffer {
  if (e.evidenceDigest.length !== 32) throw new TlsGroupError('BAD_EVIDENCE_DIGEST', `evidence digest must be 32 bytes (SHA-256), got ${e.evidenceDigest.length}`);
  if (!/^[a-z0-9-]{1,32}$/.test(e.platform)) throw new TlsGroupError('BAD_EVIDENCE_DIGEST', `bad platform name "${e.platform}"`);
  return tlv(0x30, Buffer.concat([tlv(0x02, Buffer.from([1])), tlv(0x04, e.evidenceDigest), tlv(0x0c, Buffer.from(e.platform, 'utf8'))]));
}

export function decodeEvidenceExtension(der: Uint8Array): EvidenceExtension {
  const b = Buffer.from(der);
  const bad = (why: string) => new TlsGroupError('BAD_CERTIFICATE', `evidence extension: ${why}`);
  let i = 0;
  const read = (tag: number): Buffer => {
    if (b[i] !== tag) throw bad(`expected tag 0x${tag.toString(16)} at ${i}`);
    const len = b[i + 1];
    if (len === undefined || len > 127 || i + 2 + len > b.length) throw bad('bad length');
    const v = b.subarray(i + 2, i + 2 + len);
    i += 2 + len;
    return v;
  };
  const seq = read(0x30);
  if (i !== b.length) throw bad('trailing bytes');
  const inner = decodeInner(seq, bad);
  return inner;
}

function decodeInner(seq: Buffer, bad: (why: string) => Error): EvidenceExtension {
  let i = 0;
  const read = (tag: number): Buffer => {
    if (seq[i] !== tag) throw bad(`expected tag 0x${tag.toString(16)} at ${i}`);
    const len = seq[i + 1];
    if (len === undefined || len > 127 || i + 2 + len > seq.length) throw bad('bad length');
    const v = seq.subarray(i + 2, i + 2 + len);
    i += 2 + len;
    return v;
  };
  const version = read(0x02);
  if (version.length !== 1 || version[0] !== 1) throw bad('unsupported version');
  const evidenceDigest = Buffer.from(read(0x04));
  if (evidenceDigest.length !== 32) throw bad('digest is not 32 bytes');
  const platform = read(0x0c).toString('utf8');
  if (i !== seq.length) throw bad('trailing bytes in sequence');
  return { evidenceDigest, platform };
}
