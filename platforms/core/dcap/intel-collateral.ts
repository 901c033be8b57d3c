// Intel DCAP collateral, evaluated offline as Intel's Quote Verification Library
// does (pure: bytes in, a TCB evaluation out):
//   - every signed document (TCB Info, QE Identity, each CRL) chains to the Intel
//     SGX Root CA (pinned, or rootCaPems), its signature verifies, and it is
//     current at "now" (issueDate/thisUpdate <= now <= nextUpdate);
//   - the Root CA CRL revokes none of the CAs and signing certificates involved,
//     the PCK CA's CRL does not revoke the quote's PCK certificate;
//   - TCB Info (v3) is for the PCK's FMSPC and PCEID, and the TEE of the quote;
//     the platform's TCB level is the first level its PCK TCB components and
//     PCESVN meet (for TDX also TEE_TCB_SVN, from byte 2 on when the TDX module
//     major version TEE_TCB_SVN[1] > 0);
//   - TDX: MRSIGNERSEAM and SEAMATTRIBUTES match the TDX module (identity
//     "TDX_<major>" for major > 0, whose TCB level is judged by TEE_TCB_SVN[0]);
//   - the QE report matches the QE Identity (MISCSELECT and ATTRIBUTES under their
//     masks, MRSIGNER, ISVPRODID) and its ISVSVN selects a QE TCB level;
//   - the statuses converge (an OutOfDate QE or TDX module makes UpToDate /
//     SWHardeningNeeded OutOfDate and the Configuration* statuses
//     OutOfDateConfigurationNeeded; a Revoked one makes Revoked).
// A failed check throws a PlatformError naming it (COLLATERAL_INVALID,
// COLLATERAL_EXPIRED, CERT_REVOKED, QE_IDENTITY_MISMATCH, TDX_MODULE_MISMATCH,
// TCB_NOT_SUPPORTED); what was established is returned as Claims.checks entries.
import { verify, type X509Certificate } from 'node:crypto';
import { anchorsFrom, fingerprint, parseCert, pemBlocks, verifyChain, type TrustAnchors } from '../cert-chain.ts';
import type { CollateralProvider, DcapTcbFacts, TcbEvaluation, TcbQuery } from '../collateral.ts';
import { PlatformError } from '../../errors.ts';
import type { TcbStatus, VerificationCheck } from '../types.ts';
import { certNames, isRevoked, nameCn, parseCrl, verifyCrl, type Crl } from './crl.ts';
import { INTEL_SGX_ROOT_CA_SHA256 } from './intel-root.ts';
import { pckFacts, type PckFacts } from './pck.ts';
import { parseSgxReportBody } from './quote.ts';

export interface IntelTcbInfoEntry {
  /** Raw body of GET /{sgx|tdx}/certification/v4/tcb?fmspc=...: {"tcbInfo":{...},"signature":"<hex>"}. */
  tcbInfoJson: string;
  /** PEM chain from the TCB-Info-Issuer-Chain header (signing cert first). */
  issuerChainPem: string;
}

export interface IntelQeIdentityEntry {
  /** Raw body of GET /{sgx|tdx}/certification/v4/qe/identity: {"enclaveIdentity":{...},"signature":"<hex>"}. */
  qeIdentityJson: string;
  /** PEM chain from the SGX-Enclave-Identity-Issuer-Chain header. */
  issuerChainPem: string;
  /** The TEE this identity was fetched for (sgx: id "QE", tdx: id "TD_QE"); without it the id decides. */
  tee?: 'sgx' | 'tdx';
}

export interface IntelPckCrlEntry {
  /** Body of GET /sgx/certification/v4/pckcrl?ca=processor|platform (DER, PEM or hex). */
  crl: Uint8Array | string;
  /** PEM chain from the SGX-PCK-CRL-Issuer-Chain header (the PCK CA first). */
  issuerChainPem: string;
}

/** One consistent set of Intel collateral (what a PCCS or a collateral directory holds). */
export interface IntelCollateralSet {
  tcbInfos: IntelTcbInfoEntry[];
  qeIdentities?: IntelQeIdentityEntry[];
  pckCrls?: IntelPckCrlEntry[];
  /** The Intel SGX Root CA CRL (DER, PEM or hex). */
  rootCaCrl?: Uint8Array | string;
}

export interface IntelCollateralOptions extends IntelCollateralSet {
  /** Replaces the pinned Intel SGX Root CA (tests, private PCCS). */
  rootCaPems?: string[];
  /**
   * When a TCB Info applies, also require the QE Identity, the PCK CRL and the Root
   * CA CRL (COLLATERAL_INVALID naming what is missing). Default false: what is
   * missing is reported as a not-checked entry.
   */
  requireComplete?: boolean;
}

type LevelStatus = Exclude<TcbStatus, 'Unknown' | 'NotApplicable'>;
const LEVEL_STATUSES: readonly LevelStatus[] = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'];
type IdentityStatus = 'UpToDate' | 'OutOfDate' | 'Revoked';
const IDENTITY_STATUSES: readonly IdentityStatus[] = ['UpToDate', 'OutOfDate', 'Revoked'];

interface TcbLevel {
  tcb: { sgxtcbcomponents: Array<{ svn: number }>; pcesvn: number; tdxtcbcomponents?: Array<{ svn: number }> };
  tcbDate?: string;
  tcbStatus: string;
  advisoryIDs?: string[];
}

interface IdentityLevel {
  tcb: { isvsvn: number };
  tcbDate?: string;
  tcbStatus: string;
  advisoryIDs?: string[];
}

interface TdxModuleIdentity {
  id: string;
  mrsigner: string;
  attributes: string;
  attributesMask: string;
  tcbLevels: IdentityLevel[];
}

interface TcbInfoBody {
  id?: string;
  version?: number;
  issueDate?: string;
  nextUpdate?: string;
  fmspc?: string;
  pceId?: string;
  tcbType?: number;
  tcbEvaluationDataNumber?: number;
  tdxModule?: { mrsigner: string; attributes: string; attributesMask: string };
  tdxModuleIdentities?: TdxModuleIdentity[];
  tcbLevels?: TcbLevel[];
}

interface EnclaveIdentityBody {
  id?: string;
  version?: number;
  issueDate?: string;
  nextUpdate?: string;
  tcbEvaluationDataNumber?: number;
  miscselect?: string;
  miscselectMask?: string;
  attributes?: string;
  attributesMask?: string;
  mrsigner?: string;
  isvprodid?: number;
  tcbLevels?: IdentityLevel[];
}

const invalid = (what: string, why: string, cause?: unknown) => new PlatformError('COLLATERAL_INVALID', `${what}: ${why}`, cause ? { cause } : undefined);

/** The exact bytes of the value of `key` in the raw response (what Intel signed). */
export function rawJsonMember(text: string, key: string, what = 'Intel TCB Info'): string {
  const at = text.indexOf(`"${key}"`);
  if (at < 0) throw invalid(what, `no "${key}" member`);
  const start = text.indexOf('{', at);
  if (start < 0) throw invalid(what, `"${key}" is not an object`);
  let depth = 0;
  let inStr = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  throw invalid(what, `"${key}" is not terminated`);
}

function hexBytes(v: unknown, len: number, what: string): number[] | undefined {
  if (typeof v !== 'string' || v.length !== len * 2) return undefined;
  if (!/^[0-9a-f]+$/i.test(v)) throw invalid('TCB query', `${what} is not hex`);
  return [...Buffer.from(v, 'hex')];
}

function hexField(v: unknown, len: number, what: string): Buffer {
  if (typeof v !== 'string' || v.length !== len * 2 || !/^[0-9a-f]*$/i.test(v)) throw invalid(what, `expected ${len} bytes of hex`);
  return Buffer.from(v, 'hex');
}

/** A collateral signing chain to the Intel root; validity failures are COLLATERAL_EXPIRED, the rest COLLATERAL_INVALID. */
function verifySigningChain(pem: string, anchors: TrustAnchors, now: Date, what: string): X509Certificate[] {
  const chain = pemBlocks(pem).map((p, i) => parseCert(p, `${what} issuer certificate ${i}`));
  if (chain.length === 0) throw invalid(what, 'no issuer chain');
  try {
    verifyChain(chain, anchors, now, `${what} signing chain`);
  } catch (cause) {
    const code = (cause as PlatformError).code;
    if (code === 'CERT_EXPIRED' || code === 'CERT_NOT_YET_VALID') throw new PlatformError('COLLATERAL_EXPIRED', `${what}: signing chain rejected: ${(cause as Error).message}`, { cause });
    throw invalid(what, `signing chain rejected: ${(cause as Error).message}`, cause);
  }
  return chain;
}

function checkDates(issueDate: unknown, nextUpdate: unknown, now: Date, what: string): { issued: Date; next: Date } {
  const issued = new Date(String(issueDate));
  const next = new Date(String(nextUpdate));
  if (Number.isNaN(issued.getTime()) || Number.isNaN(next.getTime())) throw invalid(what, 'issueDate/nextUpdate are not dates');
  if (next.getTime() < now.getTime()) throw new PlatformError('COLLATERAL_EXPIRED', `${what}: expired (nextUpdate ${String(nextUpdate)}, verification time ${now.toISOString()}): fetch it anew`);
  if (issued.getTime() > now.getTime()) throw new PlatformError('COLLATERAL_EXPIRED', `${what}: not valid before its issueDate ${String(issueDate)} (verification time ${now.toISOString()})`);
  return { issued, next };
}

function parseSigned<T>(text: string, key: string, what: string, key_: string): { body: T; raw: string; sig: Buffer } {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw invalid(what, 'not JSON', cause);
  }
  const body = parsed[key];
  if (!body || typeof body !== 'object') throw invalid(what, `no "${key}" object`);
  const sig = Buffer.from(typeof parsed.signature === 'string' ? parsed.signature : '', 'hex');
  return { body: body as T, raw: rawJsonMember(text, key, key_), sig };
}

function verifySignature(raw: string, sig: Buffer, signer: X509Certificate, what: string): void {
  if (sig.length !== 64 || !verify('sha256', Buffer.from(raw, 'utf8'), { key: signer.publicKey, dsaEncoding: 'ieee-p1363' }, sig)) {
    throw invalid(what, `signature over the ${what} body does not verify with "${/CN=([^\n]+)/.exec(signer.subject)?.[1] ?? signer.subject}"`);
  }
}

/** Intel's convergence of a platform TCB level status with an OutOfDate/Revoked QE or TDX module status. */
function converge(level: LevelStatus, other: IdentityStatus | undefined): LevelStatus {
  if (other === 'OutOfDate') {
    if (level === 'UpToDate' || level === 'SWHardeningNeeded') return 'OutOfDate';
    if (level === 'ConfigurationNeeded' || level === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  }
  if (other === 'Revoked') return 'Revoked';
  return level;
}

function levelStatus(s: string, what: string): LevelStatus {
  if (!(LEVEL_STATUSES as readonly string[]).includes(s)) throw invalid(what, `unknown tcbStatus "${s}"`);
  return s as LevelStatus;
}

function identityStatus(s: string, what: string): IdentityStatus {
  if (!(IDENTITY_STATUSES as readonly string[]).includes(s)) throw invalid(what, `unknown tcbStatus "${s}"`);
  return s as IdentityStatus;
}

/** The first identity TCB level whose ISVSVN the given SVN meets (levels as Intel orders them: highest first). */
function identityLevel(levels: IdentityLevel[] | undefined, svn: number): IdentityLevel | undefined {
  return [...(levels ?? [])].sort((a, b) => b.tcb.isvsvn - a.tcb.isvsvn).find((l) => svn >= l.tcb.isvsvn);
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0').toUpperCase();

class Checks {
  readonly list: VerificationCheck[] = [];
  set(check: string, result: VerificationCheck['result'], detail: string): void {
    const i = this.list.findIndex((c) => c.check === check);
    const c = { check, result, detail };
    if (i >= 0) this.list[i] = c;
    else this.list.push(c);
  }
}

/**
 * Evaluates the collateral for one verified DCAP quote. Undefined when nothing
 * in `o` applies to the query (another TEE, another FMSPC, no CRLs).
 */
export function evaluateIntelCollateral(o: IntelCollateralOptions, q: TcbQuery): TcbEvaluation | undefined {
  if ((q.platform !== 'sgx' && q.platform !== 'tdx') || !q.platformId) return undefined;
  const now = q.now ?? new Date();
  const tee = q.platform;
  const anchors = anchorsFrom(o.rootCaPems, o.rootCaPems && o.rootCaPems.length > 0 ? [] : [INTEL_SGX_ROOT_CA_SHA256]);
  const facts: DcapTcbFacts | undefined = q.dcap;
  const pckChain = facts ? pemBlocks(facts.pckChainPem).map((p, i) => parseCert(p, `PCK chain certificate ${i}`)) : undefined;
  const pck = pckChain?.[0];
  const pf: PckFacts | undefined = pck ? pckFacts(pck) : undefined;
  const checks = new Checks();
  const missing: string[] = [];
  const fmspc = q.platformId.toLowerCase();

  // The Intel roots the CRL may be checked against: configured ones, or the pinned root as carried by a verified chain.
  const roots = (chains: X509Certificate[][]): X509Certificate[] => [...anchors.certs, ...chains.map((c) => c[c.length - 1]!).filter((c) => anchors.fingerprints.has(fingerprint(c)))];

  // --- Root CA CRL
  let rootCrl: Crl | undefined;
  const rootRevokes = (c: X509Certificate, what: string) => {
    if (rootCrl && isRevoked(rootCrl, c)) throw new PlatformError('CERT_REVOKED', `${what} "${nameCn(certNames(c).subjectDer) ?? c.subject}" (serial ${certNames(c).serial}) is revoked by the Intel SGX Root CA CRL (thisUpdate ${rootCrl.thisUpdate.toISOString()})`);
  };
  const rootCrlChains: X509Certificate[][] = [];
  if (pckChain) rootCrlChains.push(pckChain);

  // --- TCB Info for this TEE and FMSPC
  const want = tee === 'tdx' ? 'TDX' : 'SGX';
  let tcb: { body: TcbInfoBody; raw: string; sig: Buffer; chain: X509Certificate[] } | undefined;
  for (const entry of o.tcbInfos) {
    const p = parseSigned<TcbInfoBody>(entry.tcbInfoJson, 'tcbInfo', 'TCB Info', 'Intel TCB Info');
    if (typeof p.body.fmspc !== 'string' || p.body.fmspc.toLowerCase() !== fmspc) continue;
    if ((p.body.id ?? 'SGX') !== want) continue;
    const what = `Intel TCB Info (${want}, FMSPC ${fmspc})`;
    const chain = verifySigningChain(entry.issuerChainPem, anchors, now, what);
    verifySignature(p.raw, p.sig, chain[0]!, what);
    tcb = { ...p, chain };
    rootCrlChains.push(chain);
    break;
  }
  // --- QE Identity for this TEE
  const wantQe = tee === 'tdx' ? 'TD_QE' : 'QE';
  let qeId: { body: EnclaveIdentityBody; chain: X509Certificate[] } | undefined;
  if (facts) {
    for (const entry of o.qeIdentities ?? []) {
      const p = parseSigned<EnclaveIdentityBody>(entry.qeIdentityJson, 'enclaveIdentity', 'QE Identity', 'Intel QE Identity');
      if (entry.tee ? entry.tee !== tee : p.body.id !== wantQe) continue;
      const what = `Intel QE Identity (${entry.tee ?? tee})`;
      const chain = verifySigningChain(entry.issuerChainPem, anchors, now, what);
      verifySignature(p.raw, p.sig, chain[0]!, what);
      qeId = { body: p.body, chain };
      rootCrlChains.push(chain);
      break;
    }
  }
  // --- PCK CRL of the PCK's CA
  let pckCrl: { crl: Crl; chain: X509Certificate[] } | undefined;
  if (pck) {
    const issuerDer = certNames(pck).issuerDer;
    for (const entry of o.pckCrls ?? []) {
      const crl = parseCrl(entry.crl, 'Intel PCK CRL');
      if (!crl.issuerDer.equals(issuerDer)) continue;
      const what = `Intel PCK CRL (${crl.issuerCn ?? '?'})`;
      const chain = verifySigningChain(entry.issuerChainPem, anchors, now, what);
      verifyCrl(crl, chain[0]!, now, what);
      pckCrl = { crl, chain };
      rootCrlChains.push(chain);
      break;
    }
  }
  if (o.rootCaCrl) {
    const crl = parseCrl(o.rootCaCrl, 'Intel SGX Root CA CRL');
    const root = roots(rootCrlChains).find((r) => crl.issuerDer.equals(certNames(r).subjectDer));
    if (!root) throw invalid('Intel SGX Root CA CRL', `issued by "${crl.issuerCn ?? '?'}", which is not the Intel root (no verified chain to it in this collateral)`);
    verifyCrl(crl, root, now, 'Intel SGX Root CA CRL');
    rootCrl = crl;
  }
  if (!tcb && !pckCrl && !rootCrl) return undefined;

  // --- revocation
  if (rootCrl) {
    // Every certificate the root issued in the chains used (PCK CA, TCB signing); the CRL names its issuer, so others never match.
    for (const chain of rootCrlChains) for (const c of chain) rootRevokes(c, 'certificate');
  }
  if (pckCrl && pck && isRevoked(pckCrl.crl, pck)) {
    throw new PlatformError('CERT_REVOKED', `the PCK certificate (serial ${certNames(pck).serial}) is revoked by the ${pckCrl.crl.issuerCn ?? 'PCK CA'} CRL (thisUpdate ${pckCrl.crl.thisUpdate.toISOString()})`);
  }
  if (!pckCrl && pck) missing.push(`the PCK CRL of ${/CN=([^\n]+)/.exec(pck.issuer)?.[1] ?? 'the PCK CA'}`);
  if (!rootCrl) missing.push('the Intel SGX Root CA CRL');
  if (pckCrl && rootCrl) {
    checks.set('crl', 'pass', `PCK certificate not revoked by the ${pckCrl.crl.issuerCn} CRL (next update ${pckCrl.crl.nextUpdate!.toISOString()}); no CA of the chains revoked by the Intel SGX Root CA CRL (next update ${rootCrl.nextUpdate!.toISOString()})`);
  } else if (pckCrl || rootCrl) {
    checks.set('crl', 'not-checked', `${pckCrl ? `PCK certificate not revoked by the ${pckCrl.crl.issuerCn} CRL` : `no CA revoked by the Intel SGX Root CA CRL`}; missing ${missing.join(' and ')}`);
  } else {
    checks.set('crl', 'not-checked', facts ? `no CRLs in the collateral: ${missing.join(' and ')}` : 'no PCK chain in the query: revocation not checked');
  }

  if (!tcb) {
    checks.set('tcb-info', 'not-checked', `no Intel TCB Info for ${want} FMSPC ${fmspc} in the collateral: TCB status Unknown`);
    return { status: 'Unknown', checks: checks.list };
  }

  // --- TCB Info contents
  const info = tcb.body;
  const what = `Intel TCB Info (${want}, FMSPC ${fmspc})`;
  if (info.version !== 3) throw invalid(what, `version ${String(info.version)} is not supported (3, as PCS/PCCS v4 serve)`);
  const { next } = checkDates(info.issueDate, info.nextUpdate, now, what);
  if ((info.tcbType ?? 0) !== 0) throw invalid(what, `tcbType ${info.tcbType} is not supported (0)`);
  if (pf?.pceId && typeof info.pceId === 'string' && info.pceId.toLowerCase() !== pf.pceId) throw invalid(what, `is for PCEID ${info.pceId}, the PCK certificate's is ${pf.pceId}`);
  const pckTcb = hexBytes(pf?.pckTcb ?? q.svn.pck_tcb, 16, 'pck_tcb');
  const pceSvn = pf?.pceSvn ?? (typeof q.svn.pce_svn === 'number' ? q.svn.pce_svn : undefined);
  if (!pckTcb || pceSvn === undefined) {
    checks.set('tcb-info', 'not-checked', `${what} verified, but the PCK certificate carries no TCB components`);
    return { status: 'Unknown', checks: checks.list };
  }
  const teeTcb = tee === 'tdx' ? hexBytes(facts?.tdx?.teeTcbSvn ?? q.svn.tee_tcb_svn, 16, 'tee_tcb_svn') : undefined;
  if (tee === 'tdx' && !teeTcb) {
    checks.set('tcb-info', 'not-checked', `${what} verified, but the query carries no TEE_TCB_SVN`);
    return { status: 'Unknown', checks: checks.list };
  }

  // --- QE Identity
  let qeStatus: IdentityStatus | undefined;
  const advisories = new Set<string>();
  if (qeId && facts) {
    const id = qeId.body;
    const whatQe = `Intel QE Identity (${tee})`;
    if (id.version !== 2) throw invalid(whatQe, `version ${String(id.version)} is not supported (2)`);
    checkDates(id.issueDate, id.nextUpdate, now, whatQe);
    if (id.id !== wantQe) throw new PlatformError('QE_IDENTITY_MISMATCH', `${whatQe}: its id is "${String(id.id)}", a ${tee.toUpperCase()} quote needs the "${wantQe}" identity`);
    const qe = parseSgxReportBody(Buffer.from(facts.qeReport, 'hex'));
    const raw = Buffer.from(facts.qeReport, 'hex');
    const misc = raw.subarray(16, 20);
    const miscWant = hexField(id.miscselect, 4, whatQe);
    const miscMask = hexField(id.miscselectMask, 4, whatQe);
    if (!misc.every((b, i) => (b & miscMask[i]!) === miscWant[i])) throw new PlatformError('QE_IDENTITY_MISMATCH', `${whatQe}: the QE's MISCSELECT ${misc.toString('hex')} does not match ${id.miscselect} under mask ${id.miscselectMask}`);
    const attrWant = hexField(id.attributes, 16, whatQe);
    const attrMask = hexField(id.attributesMask, 16, whatQe);
    if (!qe.attributes.every((b, i) => (b & attrMask[i]!) === attrWant[i])) throw new PlatformError('QE_IDENTITY_MISMATCH', `${whatQe}: the QE's ATTRIBUTES ${qe.attributes.toString('hex')} do not match ${id.attributes} under mask ${id.attributesMask}`);
    const mrs = hexField(id.mrsigner, 32, whatQe);
    if (!qe.mrSigner.equals(mrs)) throw new PlatformError('QE_IDENTITY_MISMATCH', `${whatQe}: the QE's MRSIGNER ${qe.mrSigner.toString('hex').slice(0, 16)}.. is not ${String(id.mrsigner).toLowerCase().slice(0, 16)}..`);
    if (qe.isvProdId !== id.isvprodid) throw new PlatformError('QE_IDENTITY_MISMATCH', `${whatQe}: the QE's ISVPRODID ${qe.isvProdId} is not ${String(id.isvprodid)}`);
    const level = identityLevel(id.tcbLevels, qe.isvSvn);
    if (!level) throw new PlatformError('TCB_NOT_SUPPORTED', `${whatQe}: the QE's ISVSVN ${qe.isvSvn} is below every QE TCB level`);
    qeStatus = identityStatus(level.tcbStatus, whatQe);
    for (const a of level.advisoryIDs ?? []) advisories.add(a);
    checks.set('qe-identity-collateral', 'pass', `QE matches Intel's ${wantQe} identity (tcbEvaluationDataNumber ${String(id.tcbEvaluationDataNumber)}, next update ${String(id.nextUpdate)}); ISVSVN ${qe.isvSvn}: ${qeStatus}`);
  } else {
    if (facts) missing.push(`the ${wantQe} QE Identity`);
    checks.set('qe-identity-collateral', 'not-checked', facts ? `no Intel ${wantQe} QE Identity in the collateral: the QE's ISVSVN is not judged` : 'no QE report in the query');
  }
  if (o.requireComplete && missing.length > 0) throw invalid('Intel collateral', `incomplete for ${want} FMSPC ${fmspc}: missing ${missing.join(', ')}`);

  // --- TCB level
  let sgxLevel: TcbLevel | undefined;
  let tdxLevel: TcbLevel | undefined;
  const from = teeTcb && teeTcb[1]! > 0 ? 2 : 0;
  for (const level of info.tcbLevels ?? []) {
    const comps = level.tcb?.sgxtcbcomponents;
    if (!Array.isArray(comps) || comps.length !== 16) throw invalid(what, 'a TCB level without 16 sgxtcbcomponents');
    const sgxOk = comps.every((c, i) => pckTcb[i]! >= c.svn) && pceSvn >= level.tcb.pcesvn;
    if (!sgxOk) continue;
    if (!teeTcb) {
      sgxLevel = level;
      break;
    }
    sgxLevel ??= level;
    const tdx = level.tcb.tdxtcbcomponents;
    if (!Array.isArray(tdx) || tdx.length !== 16) throw invalid(what, 'a TDX TCB level without 16 tdxtcbcomponents');
    if (tdx.every((c, i) => i < from || teeTcb[i]! >= c.svn)) {
      tdxLevel = level;
      break;
    }
  }
  const tcbText = Buffer.from(pckTcb).toString('hex');
  if (!sgxLevel) throw new PlatformError('TCB_NOT_SUPPORTED', `${what}: no TCB level is met by the PCK TCB components ${tcbText} and PCESVN ${pceSvn}`);
  if (teeTcb && !tdxLevel) throw new PlatformError('TCB_NOT_SUPPORTED', `${what}: no TCB level is met by TEE_TCB_SVN ${Buffer.from(teeTcb).toString('hex')} (with PCK TCB ${tcbText}, PCESVN ${pceSvn})`);
  const level = tdxLevel ?? sgxLevel;
  let status = levelStatus(level.tcbStatus, what);
  for (const a of level.advisoryIDs ?? []) advisories.add(a);

  // --- TDX module
  if (tee === 'tdx' && teeTcb) {
    const td = facts?.tdx;
    const major = teeTcb[1]!;
    let mod: { mrsigner: string; attributes: string; attributesMask: string } | undefined = info.tdxModule;
    let moduleStatus: IdentityStatus | undefined;
    let moduleName = 'TDX module (tdxModule)';
    if ((facts?.quoteVersion ?? 4) > 3 && major > 0) {
      const wantId = `TDX_${hex2(major)}`;
      const ident = (info.tdxModuleIdentities ?? []).find((m) => String(m.id).toUpperCase() === wantId);
      if (!ident) throw new PlatformError('TDX_MODULE_MISMATCH', `${what}: no TDX module identity ${wantId} for the TD's module major version ${major}`);
      const l = ident.tcbLevels.find((x) => teeTcb[0]! >= x.tcb.isvsvn);
      if (!l) throw new PlatformError('TCB_NOT_SUPPORTED', `${what}: TDX module ${wantId} SVN ${teeTcb[0]} is below every module TCB level`);
      moduleStatus = identityStatus(l.tcbStatus, what);
      for (const a of l.advisoryIDs ?? []) advisories.add(a);
      mod = ident;
      moduleName = `TDX module identity ${wantId} (SVN ${teeTcb[0]}: ${moduleStatus})`;
    }
    if (td) {
      if (!mod) throw invalid(what, 'no tdxModule');
      if (!Buffer.from(td.mrSignerSeam, 'hex').equals(hexField(mod.mrsigner, 48, what))) throw new PlatformError('TDX_MODULE_MISMATCH', `${what}: MRSIGNERSEAM ${td.mrSignerSeam.slice(0, 16)}.. is not the ${moduleName} MRSIGNER ${mod.mrsigner.toLowerCase().slice(0, 16)}..`);
      const attr = Buffer.from(td.seamAttributes, 'hex');
      const aWant = hexField(mod.attributes, 8, what);
      const aMask = hexField(mod.attributesMask, 8, what);
      if (attr.length !== 8 || !attr.every((b, i) => (b & aMask[i]!) === aWant[i])) throw new PlatformError('TDX_MODULE_MISMATCH', `${what}: SEAMATTRIBUTES ${td.seamAttributes} do not match ${mod.attributes} under mask ${mod.attributesMask}`);
      checks.set('tdx-module-identity', 'pass', `MRSIGNERSEAM and SEAMATTRIBUTES match the ${moduleName}`);
    } else {
      checks.set('tdx-module-identity', 'not-checked', 'no TD report fields in the query: MRSIGNERSEAM and SEAMATTRIBUTES not judged');
    }
    status = converge(status, moduleStatus);
    // TDX 1.5 (body type 3): TEE_TCB_SVN2 is the module running now. Intel reports
    // "TD relaunch advised" when the launch TCB is out of date only because of the
    // module and the running one is current; the status stays the launch status here.
    const svn2 = td?.teeTcbSvn2 ? hexBytes(td.teeTcbSvn2, 16, 'tee_tcb_svn2') : undefined;
    if (facts?.bodyType === 3 && svn2 && moduleStatus === 'OutOfDate' && (status === 'OutOfDate' || status === 'OutOfDateConfigurationNeeded') && qeStatus !== 'OutOfDate' && qeStatus !== 'Revoked') {
      const sgxStatus = levelStatus(sgxLevel.tcbStatus, what);
      const latest = info.tcbLevels![0]!;
      const latestModule = svn2[1]! > 0 ? (info.tdxModuleIdentities ?? []).find((m) => String(m.id).toUpperCase() === `TDX_${hex2(svn2[1]!)}`)?.tcbLevels[0]?.tcb.isvsvn : latest.tcb.tdxtcbcomponents?.[0]?.svn;
      if (['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded'].includes(sgxStatus) && latestModule !== undefined && svn2[0]! >= latestModule && svn2[2]! >= (latest.tcb.tdxtcbcomponents?.[2]?.svn ?? 0)) {
        checks.set('tdx-relaunch', 'warn', `the TD was launched under an out-of-date TDX module; the module running now (TEE_TCB_SVN2 ${td!.teeTcbSvn2}) is current: relaunching the TD would bring it up to date (Intel: TD relaunch advised)`);
      }
    }
  }
  status = converge(status, qeStatus);
  const advisoryIds = [...advisories].sort();
  checks.set('tcb-info', 'pass', `Intel TCB Info for ${want} FMSPC ${fmspc} (tcbEvaluationDataNumber ${String(info.tcbEvaluationDataNumber)}, next update ${next.toISOString()}): TCB level of ${level.tcbDate ?? '?'} is ${level.tcbStatus}${advisoryIds.length ? `, advisories ${advisoryIds.join(', ')}` : ''}`);
  return { status, checks: checks.list, advisoryIds, ...(level.tcbDate ? { tcbDate: level.tcbDate } : {}) };
}

/** One signed document of a collateral set, verified on its own (no quote needed). */
export interface CollateralDocument {
  kind: 'tcb-info' | 'qe-identity' | 'pck-crl' | 'root-ca-crl';
  /** e.g. "TDX FMSPC 50806f000000", "TD_QE", "Intel SGX PCK Platform CA". */
  name: string;
  issued: string;
  nextUpdate: string;
  tcbEvaluationDataNumber?: number;
}

/**
 * Verifies every document of a collateral set on its own: signing chain to the
 * Intel root (pinned or rootCaPems), signature, and validity at `now`. Throws on
 * the first failure (COLLATERAL_INVALID, COLLATERAL_EXPIRED, CERT_REVOKED when the
 * Root CA CRL revokes a signing certificate); returns what each document is.
 */
export function verifyIntelCollateralDocuments(o: IntelCollateralOptions, now: Date): CollateralDocument[] {
  const anchors = anchorsFrom(o.rootCaPems, o.rootCaPems && o.rootCaPems.length > 0 ? [] : [INTEL_SGX_ROOT_CA_SHA256]);
  const out: CollateralDocument[] = [];
  const chains: X509Certificate[][] = [];
  for (const e of o.tcbInfos) {
    const p = parseSigned<TcbInfoBody>(e.tcbInfoJson, 'tcbInfo', 'TCB Info', 'Intel TCB Info');
    const name = `${String(p.body.id ?? 'SGX')} FMSPC ${String(p.body.fmspc).toLowerCase()}`;
    const what = `Intel TCB Info (${name})`;
    const chain = verifySigningChain(e.issuerChainPem, anchors, now, what);
    verifySignature(p.raw, p.sig, chain[0]!, what);
    if (p.body.version !== 3) throw invalid(what, `version ${String(p.body.version)} is not supported (3)`);
    const d = checkDates(p.body.issueDate, p.body.nextUpdate, now, what);
    chains.push(chain);
    out.push({ kind: 'tcb-info', name, issued: d.issued.toISOString(), nextUpdate: d.next.toISOString(), ...(typeof p.body.tcbEvaluationDataNumber === 'number' ? { tcbEvaluationDataNumber: p.body.tcbEvaluationDataNumber } : {}) });
  }
  for (const e of o.qeIdentities ?? []) {
    const p = parseSigned<EnclaveIdentityBody>(e.qeIdentityJson, 'enclaveIdentity', 'QE Identity', 'Intel QE Identity');
    const what = `Intel QE Identity (${String(p.body.id)})`;
    const chain = verifySigningChain(e.issuerChainPem, anchors, now, what);
    verifySignature(p.raw, p.sig, chain[0]!, what);
    const want = e.tee === 'tdx' ? 'TD_QE' : e.tee === 'sgx' ? 'QE' : undefined;
    if (want && p.body.id !== want) throw invalid(what, `fetched for ${e.tee} but its id is "${String(p.body.id)}", not "${want}"`);
    const d = checkDates(p.body.issueDate, p.body.nextUpdate, now, what);
    chains.push(chain);
    out.push({ kind: 'qe-identity', name: String(p.body.id), issued: d.issued.toISOString(), nextUpdate: d.next.toISOString(), ...(typeof p.body.tcbEvaluationDataNumber === 'number' ? { tcbEvaluationDataNumber: p.body.tcbEvaluationDataNumber } : {}) });
  }
  for (const e of o.pckCrls ?? []) {
    const crl = parseCrl(e.crl, 'Intel PCK CRL');
    const what = `Intel PCK CRL (${crl.issuerCn ?? '?'})`;
    const chain = verifySigningChain(e.issuerChainPem, anchors, now, what);
    verifyCrl(crl, chain[0]!, now, what);
    chains.push(chain);
    out.push({ kind: 'pck-crl', name: crl.issuerCn ?? '?', issued: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate!.toISOString() });
  }
  if (o.rootCaCrl) {
    const crl = parseCrl(o.rootCaCrl, 'Intel SGX Root CA CRL');
    const root = [...anchors.certs, ...chains.map((c) => c[c.length - 1]!).filter((c) => anchors.fingerprints.has(fingerprint(c)))].find((r) => crl.issuerDer.equals(certNames(r).subjectDer));
    if (!root) throw invalid('Intel SGX Root CA CRL', `issued by "${crl.issuerCn ?? '?'}", which is not the Intel root (no verified chain to it in this collateral)`);
    verifyCrl(crl, root, now, 'Intel SGX Root CA CRL');
    for (const chain of chains) {
      for (const c of chain) if (isRevoked(crl, c)) throw new PlatformError('CERT_REVOKED', `"${nameCn(certNames(c).subjectDer) ?? c.subject}" (serial ${certNames(c).serial}) is revoked by the Intel SGX Root CA CRL`);
    }
    out.push({ kind: 'root-ca-crl', name: crl.issuerCn ?? '?', issued: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate!.toISOString() });
  }
  return out;
}

/** A CollateralProvider over a fixed set of Intel collateral (a PCCS cache, files read once). */
export function createIntelCollateralProvider(o: IntelCollateralOptions): CollateralProvider {
  return {
    async evaluate(q: TcbQuery) {
      return evaluateIntelCollateral(o, q);
    },
    async tcbStatus(q: TcbQuery) {
      return evaluateIntelCollateral(o, q)?.status;
    },
  };
}
