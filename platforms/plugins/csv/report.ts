// Hygon CSV attestation report parsing (pure, sync).
//  v1 (legacy): TeeInfo 0x150 bytes; fields 0..0xBC are XOR-ed with `anonce`
//  (u32 @0xBC, repeated) and the PEK's SM2 signature @0xC0 covers the stored
//  bytes [0, 0xB4). Signer block @0x150: PEK cert (2084) || chip SN (64) ||
//  reserved (32) || MAC (32), XOR-ed too in the firmware's output (tools such
//  as trustee hand it over restored).
//  v2 (extended, wrapper magic "ATTESTATION_EXT", flags 1): no XOR, adds build,
//  rtmr_version and RTMR0..4 (SM3); signature @0x400 covers [0, 0x400); signer @0x490.
import { createHmac } from 'node:crypto';
import { PlatformError } from '../../errors.ts';
import { CSV_CERT_SIZE } from './certs.ts';

export interface CsvReport {
  version: 1 | 2;
  userPubkeyDigest: Buffer;
  vmId: Buffer;
  vmVersion: Buffer;
  reportData: Buffer;
  mnonce: Buffer;
  measure: Buffer;
  policy: number;
  sigUsage: number;
  sigAlgo: number;
  anonce: number;
  rtmr?: Buffer[];
  build?: number;
  signed: Buffer;
  r: Buffer;
  s: Buffer;
  pekCert: Buffer;
  chipSn: string;
  /** true/false when the signer MAC could be checked, undefined when it could not (restored block). */
  macValid?: boolean;
  /** Bytes after the signer block (no signature or MAC covers them, no check reads them). */
  trailing: Buffer;
}

const bad = (why: string) => new PlatformError('EVIDENCE_MALFORMED', `CSV report: ${why}`);
const le32 = (b: Buffer) => Buffer.from(b.subarray(0, 32)).reverse();

function xor(b: Buffer, anonce: number): Buffer {
  const out = Buffer.from(b);
  const k = Buffer.alloc(4);
  k.writeUInt32LE(anonce >>> 0);
  for (let i = 0; i < out.length; i++) out[i]! ^= k[i % 4]!;
  return out;
}

export function parseCsvReport(bytes: Uint8Array, version: 1 | 2 = 1): CsvReport {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const signerAt = version === 1 ? 0x150 : 0x490;
  // The report ends with the signer block: PEK cert, chip SN (64), reserved (32), MAC (32).
  const end = signerAt + CSV_CERT_SIZE + 64 + 32 + 32;
  if (b.length < end) throw bad(`${b.length} bytes is too short for a v${version} report`);
  if (b.length > 4096) throw bad(`${b.length} bytes exceeds 4096`);
  const anonce = version === 1 ? b.readUInt32LE(0xbc) : 0;
  const f = (from: number, to: number) => (version === 1 ? xor(b.subarray(from, to), anonce) : Buffer.from(b.subarray(from, to)));
  const u32 = (at: number) => f(at, at + 4).readUInt32LE(0);
  const sigAt = version === 1 ? 0xc0 : 0x400;
  // The signer block: restored (PEK version 1/2 readable) or still XOR-ed.
  const rawSigner = b.subarray(signerAt, signerAt + CSV_CERT_SIZE + 128);
  const looksPlain = (v: number) => v === 1 || v === 2;
  let pekCert: Buffer;
  let sn: Buffer;
  let macValid: boolean | undefined;
  const mnonce = f(0x80, 0x90);
  if (version === 1 && !looksPlain(rawSigner.readUInt32LE(0)) && looksPlain((rawSigner.readUInt32LE(0) ^ anonce) >>> 0)) {
    pekCert = xor(rawSigner.subarray(0, CSV_CERT_SIZE), anonce);
    sn = xor(rawSigner.subarray(CSV_CERT_SIZE, CSV_CERT_SIZE + 64), anonce);
    const mac = createHmac('sm3', mnonce).update(rawSigner.subarray(0, CSV_CERT_SIZE + 96)).digest();
    macValid = mac.equals(rawSigner.subarray(CSV_CERT_SIZE + 96, CSV_CERT_SIZE + 128));
  } else {
    pekCert = Buffer.from(rawSigner.subarray(0, CSV_CERT_SIZE));
    sn = Buffer.from(rawSigner.subarray(CSV_CERT_SIZE, CSV_CERT_SIZE + 64));
  }
  const out: CsvReport = {
    version,
    userPubkeyDigest: f(0, 32),
    vmId: f(32, 48),
    vmVersion: f(48, 64),
    reportData: f(64, 128),
    mnonce,
    measure: f(0x90, 0xb0),
    policy: u32(0xb0),
    sigUsage: u32(0xb4),
    sigAlgo: u32(0xb8),
    anonce,
    signed: b.subarray(0, version === 1 ? 0xb4 : 0x400),
    r: le32(b.subarray(sigAt, sigAt + 72)),
    s: le32(b.subarray(sigAt + 72, sigAt + 144)),
    pekCert,
    chipSn: sn.toString('latin1').replace(/\0+$/, ''),
    macValid,
    trailing: b.subarray(end),
  };
  if (version === 2) {
    out.build = b.readUInt32LE(0xbc);
    out.rtmr = [0, 1, 2, 3, 4].map((i) => Buffer.from(b.subarray(0xd0 + 32 * i, 0xf0 + 32 * i)));
  }
  if (out.sigAlgo !== 4) throw new PlatformError('UNSUPPORTED_VERSION', `CSV report signature algorithm ${out.sigAlgo} is not SM2 (4)`);
  if (!/^[\x20-\x7e]*$/.test(out.chipSn)) throw bad('chip serial number is not printable');
  return out;
}
