// Swaps the evidence extension's placeholder OID for the real one and re-signs
// the certificate with the (deterministic) Ed25519 CA key. Needed because
// asn1js cannot encode 2.25 UUID arcs (see evidence-extension.ts). Both OIDs
// have the same DER length, so no enclosing length changes.
//
//   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
import { sign, type KeyObject } from 'node:crypto';
import { EVIDENCE_OID_DER, PLACEHOLDER_OID_DER } from './evidence-extension.ts';

// AlgorithmIdentifier for Ed25519 (RFC 8410 §3): no parameters.
const ED25519_ALG_ID = Buffer.from('300506032b6570', 'hex');

function header(len: number, tag: number): Buffer {
  if (len < 0x80) return Buffer.from([tag, len]);
  if (len < 0x100) return Buffer.from([tag, 0x81, len]);
  if (len < 0x10000) return Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  throw new Error('certificate too large');
}

/** Reads a DER TLV at `off`; returns the start of its value and its end. */
function tlvAt(b: Buffer, off: number): { valueStart: number; end: number } {
  const first = b[off + 1]!;
  if (first < 0x80) return { valueStart: off + 2, end: off + 2 + first };
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[off + 2 + i]!;
  return { valueStart: off + 2 + n, end: off + 2 + n + len };
}

export function patchEvidenceOidAndResign(certDer: Uint8Array, caPrivateKey: KeyObject): Buffer {
  const der = Buffer.from(certDer);
  const outer = tlvAt(der, 0);
  const tbsStart = outer.valueStart;
  const tbs = Buffer.from(der.subarray(tbsStart, tlvAt(der, tbsStart).end));
  const at = tbs.indexOf(PLACEHOLDER_OID_DER);
  if (at < 0 || tbs.indexOf(PLACEHOLDER_OID_DER, at + 1) >= 0) throw new Error('evidence placeholder OID not found exactly once');
  EVIDENCE_OID_DER.copy(tbs, at);
  const signature = sign(null, tbs, caPrivateKey);
  const bitString = Buffer.concat([header(signature.length + 1, 0x03), Buffer.from([0]), signature]);
  const body = Buffer.concat([tbs, ED25519_ALG_ID, bitString]);
  return Buffer.concat([header(body.length, 0x30), body]);
}

export function derToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
