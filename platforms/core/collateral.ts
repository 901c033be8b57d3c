// TCB collateral is injected by the deployment (PCCS, a file cache, AMD KDS
// mirror). Verification never fetches anything by itself: offline first. Without
// a provider, or when it has nothing for the platform, TCB status is "Unknown" —
// never "UpToDate".
import type { PlatformName, TcbStatus, VerificationCheck } from './types.ts';

/**
 * What a DCAP verifier hands a collateral provider beyond the TCB components, so
 * that Intel collateral can be evaluated in full: the PCK chain (revocation, FMSPC,
 * PCEID), the QE report (QE Identity) and, for TDX, the TD report's TCB and module
 * fields (TDX module identities). Only verified data: the quote's signatures and
 * the PCK chain to the Intel root have been checked before a provider sees it.
 */
export interface DcapTcbFacts {
  /** 'sgx' or 'tdx' (the quote's TEE type). */
  tee: 'sgx' | 'tdx';
  quoteVersion: number;
  /** Body type: 1 SGX, 2 TDX 1.0, 3 TDX 1.5. */
  bodyType: number;
  /** The PCK chain of the quote (leaf first), PEM. */
  pckChainPem: string;
  /** The 384-byte QE report, hex. */
  qeReport: string;
  /** TDX only: the TD report's TEE_TCB_SVN (and TEE_TCB_SVN2 for TDX 1.5), MRSIGNERSEAM, SEAMATTRIBUTES, hex. */
  tdx?: { teeTcbSvn: string; teeTcbSvn2?: string; mrSignerSeam: string; seamAttributes: string };
}

export interface TcbQuery {
  platform: PlatformName;
  /** sgx/tdx: FMSPC hex from the PCK certificate; sev-snp: chip id hex; csv: chip serial. */
  platformId?: string;
  /** Platform TCB components as parsed from the evidence. */
  svn: Record<string, number | string>;
  /** Verification time (collateral validity is judged at this time). */
  now?: Date;
  /** sgx/tdx: the verified quote's facts for full collateral evaluation (CRLs, QE Identity, TDX module). */
  dcap?: DcapTcbFacts;
}

/** A provider's full answer: the status, what it checked (Claims.checks entries) and Intel's advisories. */
export interface TcbEvaluation {
  status: TcbStatus;
  /** Entries merged into Claims.checks by name (e.g. crl, tcb-info, qe-identity-collateral, tdx-module-identity). */
  checks: VerificationCheck[];
  /** Security advisories of the matched TCB level(s), e.g. INTEL-SA-00837. */
  advisoryIds?: string[];
  /** tcbDate of the matched TCB level (ISO time). */
  tcbDate?: string;
}

export interface CollateralProvider {
  /** Returns the TCB status for the query, or undefined when it has no collateral. */
  tcbStatus(query: TcbQuery): Promise<TcbStatus | undefined>;
  /**
   * The full evaluation (optional; verifiers prefer it when present): status plus
   * the checks made. Undefined when it has no collateral for the platform. Throws
   * a PlatformError when collateral or evidence fails a check (COLLATERAL_INVALID,
   * COLLATERAL_EXPIRED, CERT_REVOKED, QE_IDENTITY_MISMATCH, TDX_MODULE_MISMATCH,
   * TCB_NOT_SUPPORTED).
   */
  evaluate?(query: TcbQuery): Promise<TcbEvaluation | undefined>;
}

export async function resolveTcbStatus(provider: CollateralProvider | undefined, query: TcbQuery): Promise<TcbStatus> {
  if (!provider) return 'Unknown';
  return (await provider.tcbStatus(query)) ?? 'Unknown';
}

/** Like resolveTcbStatus, with the provider's checks and advisories when it gives them. */
export async function resolveTcb(provider: CollateralProvider | undefined, query: TcbQuery): Promise<TcbEvaluation> {
  if (!provider) return { status: 'Unknown', checks: [] };
  if (provider.evaluate) return (await provider.evaluate(query)) ?? { status: 'Unknown', checks: [] };
  return { status: (await provider.tcbStatus(query)) ?? 'Unknown', checks: [] };
}
