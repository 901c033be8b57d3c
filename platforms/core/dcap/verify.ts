// DCAP quote verification shared by sgx and tdx, offline: PCK chain to the
// pinned Intel root, QE report signed by the PCK key, QE report data binding the
// attestation key and QE auth data, and the quote signed by the attestation key.
// TCB status comes only from injected collateral ("Unknown" without it).
import { createHash, createPublicKey, verify, type X509Certificate } from 'node:crypto';
import { anchorsFrom, parseCert, pemBlocks, verifyChain } from '../cert-chain.ts';
import { CHECK, CheckList, tcbStatusCheck, trailingBytesCheck } from '../checks.ts';
import { resolveTcb, type CollateralProvider, type DcapTcbFacts } from '../collateral.ts';
import { PlatformError } from '../../errors.ts';
import type { PlatformName, TcbStatus } from '../types.ts';
import type { UalMapping } from '../plugin.ts';
import { INTEL_QE_MRSIGNER, INTEL_SGX_ROOT_CA_SHA256, INTEL_TDQE_MRSIGNER } from './intel-root.ts';
import { pckFacts } from './pck.ts';
import { parseSgxReportBody, TEE_TDX, type DcapQuote } from './quote.ts';

/** What the sgx and tdx verifiers read: the Intel root (collateral comes with the common options). */
export interface DcapVerifierOptions {
  /** Intel SGX Root CA certificate(s), PEM. Defaults to the pinned Intel root. */
  intelRootCaPems?: string[];
}

/** aux keys of DCAP evidence: collateral (Trustflow's json_collateral; carried, not used: TCB status comes from the configured provider). */
export const DCAP_AUX_KEYS = ['collateral'] as const;

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
  /** The evidence carried aux.collateral (listed as not used). */
  auxCollateral?: boolean;
  /** TDX: the TD report's TCB and module fields, for the collateral's TDX module identities. */
  tdx?: DcapTcbFacts['tdx'];
}

export interface VerifiedDcap {
  pck: X509Certificate;
  qeSvn: number;
  fmspc?: string;
  pceSvn?: number;
  tcbStatus: TcbStatus;
  /** Intel security advisories of the matched TCB level(s), when collateral was evaluated. */
  advisoryIds?: string[];
  /** tcbDate of the matched TCB level. */
  tcbDate?: string;
  /** What was checked (Claims.checks); the platform verifier may add its own. */
  checks: CheckList;
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

export async function verifyDcapQuote(q: DcapQuote, o: DcapVerifyOptions): Promise<VerifiedDcap> {
  const pems = pemBlocks(q.cert.pckChainPem);
  if (pems.length < 2) throw new PlatformError('CHAIN_INVALID', `DCAP quote: PCK chain has ${pems.length} certificate(s); need PCK, intermediate and root`);
  const chain = pems.map((p, i) => parseCert(p, `PCK chain certificate ${i}`));
  const anchors = anchorsFrom(o.intelRootCaPems, o.intelRootCaPems && o.intelRootCaPems.length > 0 ? [] : [INTEL_SGX_ROOT_CA_SHA256]);
  verifyChain(chain, anchors, o.now, 'PCK chain');
  const checks = new CheckList();
  checks.pass(CHECK.certChain, `PCK chain (${chain.length} certificates) to ${o.intelRootCaPems && o.intelRootCaPems.length > 0 ? 'a configured Intel root (intelRootCaPems)' : `the pinned Intel SGX Root CA (sha256 ${INTEL_SGX_ROOT_CA_SHA256.slice(0, 8)}..)`}, valid at ${o.now.toISOString()}`);
  // Collateral (PCK CRL, root CA CRL, QE Identity) turns these into 'pass': checks.pass(CHECK.crl, ...).
  checks.notChecked(CHECK.crl, 'no CRLs supplied: PCK and root CA revocation not checked');
  const pck = chain[0]!;
  if (!verify('sha256', q.cert.qeReport, { key: pck.publicKey, dsaEncoding: 'ieee-p1363' }, q.cert.qeReportSignature)) {
    throw new PlatformError('SIGNATURE_INVALID', 'DCAP quote: QE report signature does not verify with the PCK certificate key');
  }
  checks.pass('qe-report-signature', 'QE report signed by the PCK key');
  const qeSvn = checkQeIdentity(q.cert.qeReport, q.teeType);
  checks.pass('qe-identity', `Intel's ${q.teeType === TEE_TDX ? 'TD ' : ''}quoting enclave (pinned MRSIGNER and ISVPRODID), not in debug mode`);
  checks.notChecked('qe-identity-collateral', `no QE Identity collateral: the QE's ISVSVN ${qeSvn} is not judged`);
  const qeRd = q.cert.qeReport.subarray(320, 384);
  const expect = createHash('sha256').update(q.attestKey).update(q.cert.qeAuthData).digest();
  if (!qeRd.subarray(0, 32).equals(expect) || !qeRd.subarray(32).equals(Buffer.alloc(32))) {
    throw new PlatformError('BINDING_INVALID', 'DCAP quote: QE report data is not SHA-256(attestation key || QE auth data): the attestation key is not vouched for by the QE');
  }
  checks.pass('attestation-key-binding', 'QE report data = SHA-256(attestation key || QE auth data)');
  let key;
  try {
    key = p256(q.attestKey);
  } catch (cause) {
    throw new PlatformError('EVIDENCE_MALFORMED', 'DCAP quote: attestation key is not a P-256 point', { cause });
  }
  if (!verify('sha256', q.signed, { key, dsaEncoding: 'ieee-p1363' }, q.signature)) {
    throw new PlatformError('SIGNATURE_INVALID', `DCAP quote: signature over header and body does not verify with the attestation key`);
  }
  checks.pass(CHECK.signature, `quote signed by the attestation key over [0, ${q.signed.length})`);
  const info = pckFacts(pck);
  // Collateral (TCB Info, QE Identity, CRLs, TDX module identities) judges the verified quote: its checks replace the
  // not-checked entries above by name (crl, qe-identity-collateral) and add tcb-info, tdx-module-identity.
  const dcap: DcapTcbFacts = { tee: q.teeType === TEE_TDX ? 'tdx' : 'sgx', quoteVersion: q.version, bodyType: q.bodyType, pckChainPem: q.cert.pckChainPem, qeReport: q.cert.qeReport.toString('hex'), ...(o.tdx ? { tdx: o.tdx } : {}) };
  const tcb = await resolveTcb(o.collateral, { platform: o.platform, platformId: info.fmspc, now: o.now, svn: { ...o.svn, qe_svn: qeSvn, ...(info.pceSvn !== undefined ? { pce_svn: info.pceSvn } : {}), ...(info.pckTcb ? { pck_tcb: info.pckTcb } : {}) }, dcap });
  const tcbStatus = tcb.status;
  const statusCheck = tcbStatusCheck(tcbStatus, o.collateral !== undefined);
  checks.add(tcb.advisoryIds?.length ? { ...statusCheck, detail: `${statusCheck.detail ?? ''}; Intel advisories ${tcb.advisoryIds.join(', ')}` } : statusCheck);
  for (const c of tcb.checks) checks.add(c);
  if (o.auxCollateral) checks.notChecked('evidence-collateral', "aux.collateral (the prover's json_collateral) is not used: TCB status comes from the verifier's collateral provider");
  checks.add(trailingBytesCheck(q.trailing.length, 'the signature data', q.trailing));
  return { pck, qeSvn, fmspc: info.fmspc, pceSvn: info.pceSvn, tcbStatus, ...(tcb.advisoryIds ? { advisoryIds: tcb.advisoryIds } : {}), ...(tcb.tcbDate ? { tcbDate: tcb.tcbDate } : {}), checks };
}
