// TCB collateral is injected by the deployment (PCCS, a file cache, AMD KDS
// mirror). Verification never fetches anything by itself: offline first. Without
// a provider, or when it has nothing for the platform, TCB status is "Unknown" —
// never "UpToDate".
import type { PlatformName, TcbStatus } from './types.ts';

export interface TcbQuery {
  platform: PlatformName;
  /** sgx/tdx: FMSPC hex from the PCK certificate; sev-snp: chip id hex; csv: chip serial. */
  platformId?: string;
  /** Platform TCB components as parsed from the evidence. */
  svn: Record<string, number | string>;
  /** Verification time (collateral validity is judged at this time). */
  now?: Date;
}

export interface CollateralProvider {
  /** Returns the TCB status for the query, or undefined when it has no collateral. */
  tcbStatus(query: TcbQuery): Promise<TcbStatus | undefined>;
}

export async function resolveTcbStatus(provider: CollateralProvider | undefined, query: TcbQuery): Promise<TcbStatus> {
  if (!provider) return 'Unknown';
  return (await provider.tcbStatus(query)) ?? 'Unknown';
}
