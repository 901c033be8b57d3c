// SEV-SNP attestation report (1184 bytes; versions 2, 3, 5) parsing: pure and
// synchronous. Offsets: AMD SEV-SNP Firmware ABI, table "ATTESTATION_REPORT".
import { PlatformError } from '../../errors.ts';

export const SNP_REPORT_SIZE = 1184;
export const SNP_SIGNED_END = 0x2a0;
export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';

export interface SnpTcb {
  raw: Buffer;
  fmc?: number;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Buffer;
  imageId: Buffer;
  vmpl: number;
  sigAlgo: number;
  currentTcb: Buffer;
  platInfo: bigint;
  signingKey: 'vcek' | 'vlek' | 'none';
  maskChipKey: boolean;
  reportData: Buffer;
  measurement: Buffer;
  hostData: Buffer;
  idKeyDigest: Buffer;
  authorKeyDigest: Buffer;
  reportId: Buffer;
  reportedTcbRaw: Buffer;
  cpuid?: { family: number; model: number; stepping: number };
  chipId: Buffer;
  launchTcbRaw: Buffer;
  signed: Buffer;
  /** r||s big-endian, 48 bytes each (IEEE P1363 for P-384). */
  signature: Buffer;
  debugAllowed: boolean;
  /** Bytes after the 1184-byte report (no signature covers them, no check reads them). */
  trailing: Buffer;
}

const bad = (why: string) => new PlatformError('EVIDENCE_MALFORMED', `SEV-SNP report: ${why}`);

/** Family 19h models 0x00-0x0F Milan, 0x10-0x1F and 0xA0-0xAF Genoa; family 1Ah Turin. */
export function productFromCpuid(c: { family: number; model: number }): SnpProduct | undefined {
  if (c.family === 0x19 && c.model <= 0x0f) return 'Milan';
  if (c.family === 0x19 && ((c.model >= 0x10 && c.model <= 0x1f) || (c.model >= 0xa0 && c.model <= 0xaf))) return 'Genoa';
  if (c.family === 0x1a) return 'Turin';
  return undefined;
}

/** TCB_VERSION bytes differ by product: Turin adds FMC and moves fields. */
export function decodeTcb(raw: Buffer, product: SnpProduct): SnpTcb {
  if (product === 'Turin') return { raw, fmc: raw[0]!, bootloader: raw[1]!, tee: raw[2]!, snp: raw[3]!, microcode: raw[7]! };
  return { raw, bootloader: raw[0]!, tee: raw[1]!, snp: raw[6]!, microcode: raw[7]! };
}

function leToBe48(le72: Buffer): Buffer {
  if (!le72.subarray(48).equals(Buffer.alloc(24))) throw bad('signature component exceeds 48 bytes');
  return Buffer.from(le72.subarray(0, 48)).reverse();
}

export function parseSnpReport(bytes: Uint8Array): SnpReport {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The report has a fixed size; anything after it is reported, not read (docs/platforms.md, "Trailing bytes").
  if (b.length < SNP_REPORT_SIZE) throw bad(`${b.length} bytes, expected ${SNP_REPORT_SIZE}`);
  const version = b.readUInt32LE(0);
  if (version !== 2 && version !== 3 && version !== 5) throw new PlatformError('UNSUPPORTED_VERSION', `SEV-SNP report version ${version} is not supported (2, 3, 5)`);
  const sigAlgo = b.readUInt32LE(0x34);
  if (sigAlgo !== 1) throw new PlatformError('UNSUPPORTED_VERSION', `SEV-SNP signature algorithm ${sigAlgo} is not ECDSA P-384 with SHA-384 (1)`);
  const signer = b.readUInt32LE(0x48);
  const keySel = (signer >> 2) & 0x7;
  const policy = b.readBigUInt64LE(8);
  return {
    version,
    guestSvn: b.readUInt32LE(4),
    policy,
    familyId: b.subarray(0x10, 0x20),
    imageId: b.subarray(0x20, 0x30),
    vmpl: b.readUInt32LE(0x30),
    sigAlgo,
    currentTcb: b.subarray(0x38, 0x40),
    platInfo: b.readBigUInt64LE(0x40),
    signingKey: keySel === 0 ? 'vcek' : keySel === 1 ? 'vlek' : 'none',
    maskChipKey: (signer & 0x2) !== 0,
    reportData: b.subarray(0x50, 0x90),
    measurement: b.subarray(0x90, 0xc0),
    hostData: b.subarray(0xc0, 0xe0),
    idKeyDigest: b.subarray(0xe0, 0x110),
    authorKeyDigest: b.subarray(0x110, 0x140),
    reportId: b.subarray(0x140, 0x160),
    reportedTcbRaw: b.subarray(0x180, 0x188),
    cpuid: version >= 3 ? { family: b[0x188]!, model: b[0x189]!, stepping: b[0x18a]! } : undefined,
    chipId: b.subarray(0x1a0, 0x1e0),
    launchTcbRaw: b.subarray(0x1f0, 0x1f8),
    signed: b.subarray(0, SNP_SIGNED_END),
    signature: Buffer.concat([leToBe48(b.subarray(0x2a0, 0x2a0 + 72)), leToBe48(b.subarray(0x2a0 + 72, 0x2a0 + 144))]),
    // POLICY bit 19: DEBUG allowed
    debugAllowed: (policy & (1n << 19n)) !== 0n,
    trailing: b.subarray(SNP_REPORT_SIZE),
  };
}
