// TPM 2.0 structures (big-endian): TPMS_ATTEST of a quote and TPMT_SIGNATURE.
// Pure and synchronous parsing.
import { createHash } from 'node:crypto';
import { PlatformError } from '../../errors.ts';

export const TPM_GENERATED = 0xff544347;
export const TPM_ST_ATTEST_QUOTE = 0x8018;
export const ALG = { RSASSA: 0x0014, RSAPSS: 0x0016, ECDSA: 0x0018, SHA1: 0x0004, SHA256: 0x000b, SHA384: 0x000c, SHA512: 0x000d, NULL: 0x0010 } as const;
const HASH_NAMES: Record<number, string> = { [ALG.SHA1]: 'sha1', [ALG.SHA256]: 'sha256', [ALG.SHA384]: 'sha384', [ALG.SHA512]: 'sha512' };

export function hashName(alg: number): string {
  const n = HASH_NAMES[alg];
  if (!n) throw new PlatformError('UNSUPPORTED_VERSION', `TPM hash algorithm 0x${alg.toString(16)} is not supported`);
  return n;
}

const bad = (why: string) => new PlatformError('EVIDENCE_MALFORMED', `TPM quote: ${why}`);

export class BeReader {
  off = 0;
  constructor(readonly b: Buffer) {}
  take(n: number, what: string): Buffer {
    if (this.off + n > this.b.length) throw bad(`truncated ${what}`);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  u8(w: string) {
    return this.take(1, w)[0]!;
  }
  u16(w: string) {
    return this.take(2, w).readUInt16BE(0);
  }
  u32(w: string) {
    return this.take(4, w).readUInt32BE(0);
  }
  u64(w: string) {
    return this.take(8, w).readBigUInt64BE(0);
  }
  tpm2b(w: string) {
    return this.take(this.u16(`${w} size`), w);
  }
}

export interface PcrSelection {
  hash: number;
  pcrs: number[];
}

export interface TpmQuote {
  qualifiedSigner: Buffer;
  extraData: Buffer;
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
  firmwareVersion: bigint;
  selections: PcrSelection[];
  pcrDigest: Buffer;
}

export function readPcrSelections(r: BeReader): PcrSelection[] {
  const count = r.u32('PCR selection count');
  if (count > 16) throw bad(`${count} PCR banks`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hash = r.u16('PCR bank hash');
    const size = r.u8('PCR select size');
    if (size > 32) throw bad('PCR select too large');
    const bits = r.take(size, 'PCR select');
    const pcrs: number[] = [];
    for (let b = 0; b < size * 8; b++) if (bits[b >> 3]! & (1 << (b & 7))) pcrs.push(b);
    out.push({ hash, pcrs });
  }
  return out;
}

export function parseTpmsAttest(bytes: Uint8Array): TpmQuote {
  const r = new BeReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (r.u32('magic') !== TPM_GENERATED) throw bad('magic is not TPM_GENERATED_VALUE');
  const type = r.u16('type');
  if (type !== TPM_ST_ATTEST_QUOTE) throw new PlatformError('UNSUPPORTED_VERSION', `TPM attestation type 0x${type.toString(16)} is not a quote (0x8018)`);
  const q: TpmQuote = {
    qualifiedSigner: r.tpm2b('qualifiedSigner'),
    extraData: r.tpm2b('extraData'),
    clock: r.u64('clock'),
    resetCount: r.u32('resetCount'),
    restartCount: r.u32('restartCount'),
    safe: r.u8('safe') === 1,
    firmwareVersion: r.u64('firmwareVersion'),
    selections: readPcrSelections(r),
    pcrDigest: r.tpm2b('pcrDigest'),
  };
  if (q.extraData.length > 64) throw bad('extraData exceeds 64 bytes');
  // The AK signs the whole message: bytes after TPMS_ATTEST would be signed content
  // no parser reads, so they are rejected, not reported (docs/platforms.md, "Trailing bytes").
  if (r.off !== r.b.length) throw bad(`${r.b.length - r.off} bytes after TPMS_ATTEST (signed by the AK, but not part of the structure)`);
  return q;
}

export interface TpmSignature {
  sigAlg: number;
  hash: number;
  /** RSA: the signature; ECDSA: r||s (IEEE P1363, each padded to the curve size by the verifier). */
  sig: Buffer;
  r?: Buffer;
  s?: Buffer;
}

/** With `whole` (evidence: aux.signature is one TPMT_SIGNATURE) bytes after the structure are rejected; without, a prefix is parsed (a TPM response). */
export function parseTpmtSignature(bytes: Uint8Array, opts: { whole?: boolean } = {}): TpmSignature {
  const r = new BeReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const sigAlg = r.u16('sigAlg');
  const hash = r.u16('hash');
  const whole = <T>(v: T): T => {
    if (opts.whole && r.off !== r.b.length) throw new PlatformError('EVIDENCE_MALFORMED', `TPM aux.signature: ${r.b.length - r.off} bytes after TPMT_SIGNATURE`);
    return v;
  };
  if (sigAlg === ALG.RSASSA || sigAlg === ALG.RSAPSS) return whole({ sigAlg, hash, sig: r.tpm2b('RSA signature') });
  if (sigAlg === ALG.ECDSA) {
    const rr = r.tpm2b('ECDSA r');
    const ss = r.tpm2b('ECDSA s');
    return whole({ sigAlg, hash, sig: Buffer.concat([rr, ss]), r: rr, s: ss });
  }
  throw new PlatformError('UNSUPPORTED_VERSION', `TPM signature algorithm 0x${sigAlg.toString(16)} is not supported`);
}

/** pcrDigest = H(selected PCR values in selection order). */
export function computePcrDigest(selections: PcrSelection[], values: Map<string, Buffer>, digestAlg: number): Buffer {
  const h = createHash(hashName(digestAlg));
  for (const sel of selections) {
    for (const i of sel.pcrs) {
      const v = values.get(`${sel.hash}:${i}`);
      if (!v) throw new PlatformError('EVIDENCE_MALFORMED', `TPM evidence lacks the value of PCR ${i} (${hashName(sel.hash)} bank)`);
      h.update(v);
    }
  }
  return h.digest();
}
