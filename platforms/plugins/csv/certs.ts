// Hygon certificate formats (not X.509), little-endian:
//  - CA certificate (HRK, HSK), 832 bytes: ver u32 @0, key_id[16] @4,
//    certifying_id[16] @0x14, key_usage u32 @0x24, public key @0x40
//    {curve u32, qx[72], qy[72], uid_len u16, uid[254]}, signature @0x240
//    {r[72], s[72]}; the signature covers [0, 0x240).
//  - CSV certificate (CEK, PEK), 2084 bytes: ver u32 @0, api major/minor @4,
//    pub_key_usage u32 @8, pub_key_algo u32 @12, public key @16 (as above),
//    sig1 {usage u32, algo u32, r[72], s[72], ...} @0x414, sig2 @0x61C; the
//    signatures cover [0, 0x414).
// Coordinates and signature components are 72-byte little-endian fields of
// which the low 32 bytes carry the SM2 value.
import { createHash } from 'node:crypto';
import { PlatformError } from '../../errors.ts';
import { sm2Verify, type Sm2PublicKey } from './sm2.ts';

export const CA_CERT_SIZE = 832;
export const CSV_CERT_SIZE = 2084;
export const USAGE = { HRK: 0x0000, HSK: 0x0013, OCA: 0x1001, PEK: 0x1002, CEK: 0x1004 } as const;
/** SHA-256 of the genuine Hygon Root Key's qx||qy fields (key id 3ae86a97 01355cce 333a589d e21583d7). */
export const HYGON_HRK_KEY_SHA256 = 'ec43e28d405c87f4150dd8b65002e89d1f48bf3dbade422189746160a1b7ce18';

export interface HygonKey {
  key: Sm2PublicKey;
  uid: Buffer;
  usage: number;
  /** SHA-256 of the raw qx||qy fields. */
  keyDigest: string;
}

export interface HygonCert extends HygonKey {
  raw: Buffer;
  signed: Buffer;
  /** Signatures present: usage of the signer and its (r, s) big-endian. */
  sigs: Array<{ usage: number; r: Buffer; s: Buffer }>;
  keyId?: Buffer;
  certifyingId?: Buffer;
}

const le32 = (b: Buffer) => Buffer.from(b.subarray(0, 32)).reverse();

function readKey(b: Buffer, at: number, usage: number, what: string): HygonKey {
  const curve = b.readUInt32LE(at);
  if (curve !== 3) throw new PlatformError('EVIDENCE_MALFORMED', `${what}: curve ${curve} is not SM2 (3)`);
  const uidLen = b.readUInt16LE(at + 148);
  if (uidLen > 254) throw new PlatformError('EVIDENCE_MALFORMED', `${what}: user id length ${uidLen}`);
  return {
    key: { x: le32(b.subarray(at + 4, at + 76)), y: le32(b.subarray(at + 76, at + 148)) },
    uid: Buffer.from(b.subarray(at + 150, at + 150 + uidLen)),
    usage,
    keyDigest: createHash('sha256').update(b.subarray(at + 4, at + 148)).digest('hex'),
  };
}

export function parseCaCert(raw: Buffer, what: string): HygonCert {
  if (raw.length !== CA_CERT_SIZE) throw new PlatformError('EVIDENCE_MALFORMED', `${what}: ${raw.length} bytes, expected ${CA_CERT_SIZE}`);
  const usage = raw.readUInt32LE(0x24);
  return {
    ...readKey(raw, 0x40, usage, what),
    raw,
    signed: raw.subarray(0, 0x240),
    sigs: [{ usage: -1, r: le32(raw.subarray(0x240, 0x288)), s: le32(raw.subarray(0x288, 0x2d0)) }],
    keyId: raw.subarray(4, 20),
    certifyingId: raw.subarray(0x14, 0x24),
  };
}

export function parseCsvCert(raw: Buffer, what: string): HygonCert {
  if (raw.length !== CSV_CERT_SIZE) throw new PlatformError('EVIDENCE_MALFORMED', `${what}: ${raw.length} bytes, expected ${CSV_CERT_SIZE}`);
  const algo = raw.readUInt32LE(12);
  if (algo !== 4) throw new PlatformError('EVIDENCE_MALFORMED', `${what}: key algorithm ${algo} is not SM2 signing (4)`);
  const sigs = [0x414, 0x61c].map((at) => ({ usage: raw.readUInt32LE(at), algo: raw.readUInt32LE(at + 4), r: le32(raw.subarray(at + 8, at + 80)), s: le32(raw.subarray(at + 80, at + 152)) }));
  return { ...readKey(raw, 16, raw.readUInt32LE(8), what), raw, signed: raw.subarray(0, 0x414), sigs: sigs.filter((s) => s.algo === 4) };
}

/** Verifies that `issuer` signed `cert` (the signature slot with the issuer's usage, or the only one for CA certs). */
export function verifyIssued(cert: HygonCert, issuer: HygonKey, what: string): void {
  const sig = cert.sigs.find((s) => s.usage === issuer.usage) ?? (cert.sigs.length === 1 && cert.sigs[0]!.usage === -1 ? cert.sigs[0] : undefined);
  if (!sig) throw new PlatformError('CHAIN_INVALID', `${what} carries no signature by usage 0x${issuer.usage.toString(16)}`);
  if (!sm2Verify(issuer.key, issuer.uid, cert.signed, sig.r, sig.s)) throw new PlatformError('CHAIN_INVALID', `${what} is not signed by ${issuer.uid.toString('latin1') || 'its issuer'}`);
}
