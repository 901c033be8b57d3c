// DCAP quote verification shared by sgx and tdx, offline: PCK chain to the
// pinned Intel root, QE report signed by the PCK key, QE report data binding the
// attestation key and QE auth data, and the quote signed by the attestation key.
// TCB status comes only from injected collateral ("Unknown" without it).
import { createHash, createPublicKey, verify, type X509Certificate } from 'node:crypto';
import { anchorsFrom, extensionValue, parseCert, pemBlocks, verifyChain } from '../cert-chain.ts';
import { resolveTcbStatus, type CollateralProvider } from '../collateral.ts';
import { derInteger, findOidValue, readTlv } from '../der.ts';
import { PlatformError } from '../../errors.ts';
import type { PlatformName, TcbStatus } from '../types.ts';
import type { UalMapping } from '../plugin.ts';
import { INTEL_QE_MRSIGNER, INTEL_SGX_ROOT_CA_SHA256, INTEL_TDQE_MRSIGNER, SGX_EXTENSION_OID, SGX_FMSPC_OID, SGX_PCESVN_OID, SGX_TCB_OID } from './intel-root.ts';
import { parseSgxReportBody, TEE_TDX, type DcapQuote } from './quote.ts';

/** What the sgx and tdx verifiers read: the Intel root (collateral comes with the common options). */
export interface DcapVerifierOptions {
  /** Intel SGX Root CA certificate(s), PEM. Defaults to the pinned Intel root. */
  intelRootCaPems?: string[];
}

/** DCAP evidence in Trustflow's report: the collateral in json_collateral (IntelTdxReport / DcapReport). */
export function dcapUal(teePlatform: 'TDX' | 'SGX_DCAP'): UalMapping {
  return {
    teePlatform,
    toReport: (aux) => ({ fields: { json_collateral: aux.collateral ?? '' }, used: ['collateral'] }),
    fromReport: (_rep, str): Record<string, string> => {
      const c = str('json_collateral');
      return c ? { collateral: c } : {};
    },
  };
}

export interface DcapVerifyOptions {
  intelRootCaPems?: string[];
  collateral?: CollateralProvider;
  now: Date;
  platform: PlatformName;
  /** Platform TCB components for the collateral query (from the body). */
  svn: Record<string, number | string>;
}

export interface VerifiedDcap {
  pck: X509Certificate;
  qeSvn: number;
  fmspc?: string;
  pceSvn?: number;
  tcbStatus: TcbStatus;
}

/** The QE report must come from Intel's (TD)QE, not debug. */
export function checkQeIdentity(qeReport: Buffer, teeType: number): number {
  const qe = parseSgxReportBody(qeReport);
  const tdx = teeType === TEE_TDX;
  const want = tdx ? INTEL_TDQE_MRSIGNER : INTEL_QE_MRSIGNER;
  const prod = tdx ? 2 : 1;
  if (qe.mrSigner.toString('hex') !== want || qe.isvProdId !== prod) {
    throw new PlatformError('BINDING_INVALID', `DCAP quote: the QE report is not from Intel's ${tdx ? 'TD ' : ''}quoting enclave (MRSIGNER ${qe.mrSigner.toString('hex').slice(0, 16)}.., ISVPRODID ${qe.isvProdId})`);
  }
  if (qe.debug) throw new PlatformError('BINDING_INVALID', 'DCAP quote: the quoting enclave runs in debug mode');
  return qe.isvSvn;
}

function p256(raw: Buffer) {
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(0, 32).toString('base64url'), y: raw.subarray(32, 64).toString('base64url') }, format: 'jwk' });
}

function pckInfo(pck: X509Certificate): { fmspc?: string; pceSvn?: number; pckTcb?: string } {
  const ext = extensionValue(pck, SGX_EXTENSION_OID);
  if (!ext) return {};
  const seq = readTlv(ext, 0);
  const f = findOidValue(seq.value, SGX_FMSPC_OID);
  const p = findOidValue(seq.value, SGX_PCESVN_OID);
  // SGX TCB component SVNs 1..16 (1.2.840.113741.1.13.1.2.<n>), compared with TCB Info levels.
  const comps: number[] = [];
  for (let n = 1; n <= 16; n++) {
    const c = findOidValue(seq.value, `${SGX_TCB_OID}.${n}`);
    if (!c) break;
    comps.push(derInteger(c.value));
  }
  return { fmspc: f?.value.toString('hex'), pceSvn: p ? derInteger(p.value) : undefined, pckTcb: comps.length === 16 ? Buffer.from(comps).toString('hex') : undefined };
}

export async function verifyDcapQuote(q: DcapQuote, o: DcapVerifyOptions): Promise<VerifiedDcap> {
  const pems = pemBlocks(q.cert.pckChainPem);
  if (pems.length < 2) throw new PlatformError('CHAIN_INVALID', `DCAP quote: PCK chain has ${pems.length} certificate(s); need PCK, intermediate and root`);
  const chain = pems.map((p, i) => parseCert(p, `PCK chain certificate ${i}`));
  const anchors = anchorsFrom(o.intelRootCaPems, o.intelRootCaPems && o.intelRootCaPems.length > 0 ? [] : [INTEL_SGX_ROOT_CA_SHA256]);
  verifyChain(chain, anchors, o.now, 'PCK chain');
  const pck = chain[0]!;
  if (!verify('sha256', q.cert.qeReport, { key: pck.publicKey, dsaEncoding: 'ieee-p1363' }, q.cert.qeReportSignature)) {
    throw new PlatformError('SIGNATURE_INVALID', 'DCAP quote: QE report signature does not verify with the PCK certificate key');
  }
  const qeSvn = checkQeIdentity(q.cert.qeReport, q.teeType);
  const qeRd = q.cert.qeReport.subarray(320, 384);
  const expect = createHash('sha256').update(q.attestKey).update(q.cert.qeAuthData).digest();
  if (!qeRd.subarray(0, 32).equals(expect) || !qeRd.subarray(32).equals(Buffer.alloc(32))) {
    throw new PlatformError('BINDING_INVALID', 'DCAP quote: QE report data is not SHA-256(attestation key || QE auth data): the attestation key is not vouched for by the QE');
  }
  let key;
  try {
    key = p256(q.attestKey);
  } catch (cause) {
    throw new PlatformError('EVIDENCE_MALFORMED', 'DCAP quote: attestation key is not a P-256 point', { cause });
  }
  if (!verify('sha256', q.signed, { key, dsaEncoding: 'ieee-p1363' }, q.signature)) {
    throw new PlatformError('SIGNATURE_INVALID', `DCAP quote: signature over header and body does not verify with the attestation key`);
  }
  const info = pckInfo(pck);
  const tcbStatus = await resolveTcbStatus(o.collateral, { platform: o.platform, platformId: info.fmspc, now: o.now, svn: { ...o.svn, qe_svn: qeSvn, ...(info.pceSvn !== undefined ? { pce_svn: info.pceSvn } : {}), ...(info.pckTcb ? { pck_tcb: info.pckTcb } : {}) } });
  return { pck, qeSvn, fmspc: info.fmspc, pceSvn: info.pceSvn, tcbStatus };
}
