// Intel DCAP quote parsing (SGX v3, TDX v4 and v5): pure and synchronous; no
// trust is established here. Layouts: docs/platforms.md, Intel DCAP headers.
import { PlatformError } from '../../errors.ts';

export const TEE_SGX = 0x00;
export const TEE_TDX = 0x81;
const HEADER = 48;
const SGX_BODY = 384;
const TDX10_BODY = 584;
const TDX15_BODY = 648;

export interface QeCertData {
  qeReport: Buffer;
  qeReportSignature: Buffer;
  qeAuthData: Buffer;
  /** PEM PCK chain (leaf first) from cert data type 5. */
  pckChainPem: string;
}

export interface DcapQuote {
  version: number;
  teeType: number;
  qeVendorId: Buffer;
  /** Body type for v5 (2 = TDX 1.0, 3 = TDX 1.5); 1 for SGX; 2 for TDX v4. */
  bodyType: number;
  body: Buffer;
  /** Bytes covered by the attestation key signature. */
  signed: Buffer;
  signature: Buffer;
  attestKey: Buffer;
  cert: QeCertData;
  /** Bytes after the signature data (no signature covers them, no check reads them). */
  trailing: Buffer;
}

const bad = (why: string) => new PlatformError('EVIDENCE_MALFORMED', `DCAP quote: ${why}`);

class Reader {
  constructor(
    readonly b: Buffer,
    public off: number,
    readonly end: number,
  ) {}
  take(n: number, what: string): Buffer {
    if (n < 0 || this.off + n > this.end) throw bad(`truncated ${what}`);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  u16(what: string): number {
    return this.take(2, what).readUInt16LE(0);
  }
  u32(what: string): number {
    return this.take(4, what).readUInt32LE(0);
  }
}

function parseQeCertData(r: Reader): QeCertData {
  const qeReport = r.take(384, 'QE report');
  const qeReportSignature = r.take(64, 'QE report signature');
  const authLen = r.u16('QE auth data length');
  const qeAuthData = r.take(authLen, 'QE auth data');
  const type = r.u16('cert data type');
  const size = r.u32('cert data size');
  const data = r.take(size, 'PCK cert chain');
  if (type !== 5) throw new PlatformError('UNSUPPORTED_VERSION', `DCAP quote: certification data type ${type} is not supported (need 5, PEM PCK chain)`);
  return { qeReport, qeReportSignature, qeAuthData, pckChainPem: data.toString('latin1').replace(/\0+$/, '') };
}

export function parseDcapQuote(quote: Uint8Array): DcapQuote {
  const q = Buffer.from(quote.buffer, quote.byteOffset, quote.byteLength);
  if (q.length < HEADER + 4) throw bad(`too short (${q.length} bytes)`);
  const version = q.readUInt16LE(0);
  const attKeyType = q.readUInt16LE(2);
  const teeType = q.readUInt32LE(4);
  if (attKeyType !== 2) throw new PlatformError('UNSUPPORTED_VERSION', `DCAP quote: attestation key type ${attKeyType} is not ECDSA P-256 (2)`);
  let bodyType: number;
  let bodyStart: number;
  let bodyLen: number;
  if (version === 3) {
    if (teeType !== TEE_SGX) throw bad(`version 3 with TEE type 0x${teeType.toString(16)}`);
    bodyType = 1;
    bodyStart = HEADER;
    bodyLen = SGX_BODY;
  } else if (version === 4) {
    if (teeType === TEE_TDX) {
      bodyType = 2;
      bodyLen = TDX10_BODY;
    } else if (teeType === TEE_SGX) {
      bodyType = 1;
      bodyLen = SGX_BODY;
    } else throw bad(`unknown TEE type 0x${teeType.toString(16)}`);
    bodyStart = HEADER;
  } else if (version === 5) {
    if (q.length < HEADER + 6) throw bad('truncated body descriptor');
    bodyType = q.readUInt16LE(HEADER);
    bodyLen = q.readUInt32LE(HEADER + 2);
    bodyStart = HEADER + 6;
    const expect = bodyType === 1 ? SGX_BODY : bodyType === 2 ? TDX10_BODY : bodyType === 3 ? TDX15_BODY : -1;
    if (expect < 0) throw new PlatformError('UNSUPPORTED_VERSION', `DCAP quote v5: body type ${bodyType} is not supported`);
    if (bodyLen !== expect) throw bad(`v5 body type ${bodyType} has size ${bodyLen}, expected ${expect}`);
  } else {
    throw new PlatformError('UNSUPPORTED_VERSION', `DCAP quote version ${version} is not supported (3, 4, 5)`);
  }
  const signedEnd = bodyStart + bodyLen;
  if (q.length < signedEnd + 4) throw bad('truncated body');
  const sigLen = q.readUInt32LE(signedEnd);
  const r = new Reader(q, signedEnd + 4, signedEnd + 4 + sigLen);
  if (r.end > q.length) throw bad(`signature data length ${sigLen} exceeds the quote`);
  const signature = r.take(64, 'quote signature');
  const attestKey = r.take(64, 'attestation key');
  let cert: QeCertData;
  if (version === 3) {
    cert = parseQeCertData(r);
  } else {
    const type = r.u16('cert data type');
    const size = r.u32('cert data size');
    if (type !== 6) throw new PlatformError('UNSUPPORTED_VERSION', `DCAP quote: certification data type ${type} is not supported (need 6, QE report)`);
    const inner = new Reader(q, r.off, r.off + size);
    if (inner.end > r.end) throw bad('QE report certification data exceeds the signature data');
    cert = parseQeCertData(inner);
    // Inside a length-delimited field every byte is accounted for (docs/platforms.md, "Trailing bytes").
    if (inner.off !== inner.end) throw bad(`${inner.end - inner.off} bytes in the QE report certification data after the PCK chain`);
    r.off = inner.end;
  }
  if (r.off !== r.end) throw bad(`${r.end - r.off} bytes in the signature data after the certification data`);
  return {
    version,
    teeType,
    qeVendorId: q.subarray(12, 28),
    bodyType,
    body: q.subarray(bodyStart, signedEnd),
    signed: q.subarray(0, signedEnd),
    signature,
    attestKey,
    cert,
    trailing: q.subarray(r.end),
  };
}

/** SGX report body fields (offsets within the 384-byte body). */
export interface SgxReportBody {
  cpuSvn: Buffer;
  miscSelect: number;
  attributes: Buffer;
  mrEnclave: Buffer;
  mrSigner: Buffer;
  configId: Buffer;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  isvFamilyId: Buffer;
  isvExtProdId: Buffer;
  reportData: Buffer;
  debug: boolean;
}

export function parseSgxReportBody(b: Buffer): SgxReportBody {
  if (b.length !== SGX_BODY) throw bad(`SGX report body is ${b.length} bytes`);
  return {
    cpuSvn: b.subarray(0, 16),
    miscSelect: b.readUInt32LE(16),
    isvExtProdId: b.subarray(32, 48),
    attributes: b.subarray(48, 64),
    // ATTRIBUTES.FLAGS bit 1 = DEBUG
    debug: (b[48]! & 0x02) !== 0,
    mrEnclave: b.subarray(64, 96),
    mrSigner: b.subarray(128, 160),
    configId: b.subarray(192, 256),
    isvProdId: b.readUInt16LE(256),
    isvSvn: b.readUInt16LE(258),
    configSvn: b.readUInt16LE(260),
    isvFamilyId: b.subarray(304, 320),
    reportData: b.subarray(320, 384),
  };
}

export interface TdxReportBody {
  teeTcbSvn: Buffer;
  mrSeam: Buffer;
  mrSignerSeam: Buffer;
  seamAttributes: Buffer;
  tdAttributes: Buffer;
  xfam: Buffer;
  mrTd: Buffer;
  mrConfigId: Buffer;
  mrOwner: Buffer;
  mrOwnerConfig: Buffer;
  rtmr: Buffer[];
  reportData: Buffer;
  teeTcbSvn2?: Buffer;
  mrServiceTd?: Buffer;
  debug: boolean;
}

export function parseTdxReportBody(b: Buffer): TdxReportBody {
  if (b.length !== TDX10_BODY && b.length !== TDX15_BODY) throw bad(`TDX report body is ${b.length} bytes`);
  const out: TdxReportBody = {
    teeTcbSvn: b.subarray(0, 16),
    mrSeam: b.subarray(16, 64),
    mrSignerSeam: b.subarray(64, 112),
    seamAttributes: b.subarray(112, 120),
    tdAttributes: b.subarray(120, 128),
    xfam: b.subarray(128, 136),
    mrTd: b.subarray(136, 184),
    mrConfigId: b.subarray(184, 232),
    mrOwner: b.subarray(232, 280),
    mrOwnerConfig: b.subarray(280, 328),
    rtmr: [0, 1, 2, 3].map((i) => b.subarray(328 + 48 * i, 376 + 48 * i)),
    reportData: b.subarray(520, 584),
    // TDATTRIBUTES bit 0 = DEBUG
    debug: (b[120]! & 0x01) !== 0,
  };
  if (b.length === TDX15_BODY) {
    out.teeTcbSvn2 = b.subarray(584, 600);
    out.mrServiceTd = b.subarray(600, 648);
  }
  return out;
}
