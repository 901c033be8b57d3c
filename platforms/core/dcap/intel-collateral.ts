// A CollateralProvider over Intel TCB Info (PCS/PCCS v4 "tcb" responses kept in
// a local cache): the TCB Info signing chain must end at the Intel root, the
// ECDSA P-256 signature must cover the raw bytes of the "tcbInfo" value, and
// nextUpdate must not have passed. The status is that of the first (highest)
// TCB level the platform meets: PCK SGX TCB components and PCESVN, and for TDX
// also TEE_TCB_SVN (from byte 2 on when TEE_TCB_SVN[1] > 0, where the TDX module
// version is judged by the module identity instead). No level met: OutOfDate.
// QE Identity and CRLs are not evaluated here (the QE is pinned offline).
import { verify } from 'node:crypto';
import { anchorsFrom, parseCert, pemBlocks, verifyChain } from '../cert-chain.ts';
import type { CollateralProvider, TcbQuery } from '../collateral.ts';
import { PlatformError } from '../../errors.ts';
import type { TcbStatus } from '../types.ts';
import { INTEL_SGX_ROOT_CA_SHA256 } from './intel-root.ts';

export interface IntelTcbInfoEntry {
  /** Raw body of GET /{sgx|tdx}/certification/v4/tcb?fmspc=...: {"tcbInfo":{...},"signature":"<hex>"}. */
  tcbInfoJson: string;
  /** PEM chain from the TCB-Info-Issuer-Chain header (signing cert first). */
  issuerChainPem: string;
}

export interface IntelCollateralOptions {
  tcbInfos: IntelTcbInfoEntry[];
  /** Replaces the pinned Intel SGX Root CA (tests, private PCCS). */
  rootCaPems?: string[];
}

const STATUSES: readonly TcbStatus[] = ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'];

interface TcbLevel {
  tcb: { sgxtcbcomponents: Array<{ svn: number }>; pcesvn: number; tdxtcbcomponents?: Array<{ svn: number }> };
  tcbStatus: string;
}

const invalid = (why: string, cause?: unknown) => new PlatformError('COLLATERAL_INVALID', `Intel TCB Info: ${why}`, cause ? { cause } : undefined);

/** The exact bytes of the value of "tcbInfo" in the raw response (what Intel signed). */
export function rawJsonMember(text: string, key: string): string {
  const at = text.indexOf(`"${key}"`);
  if (at < 0) throw invalid(`no "${key}" member`);
  const start = text.indexOf('{', at);
  if (start < 0) throw invalid(`"${key}" is not an object`);
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
  throw invalid(`"${key}" is not terminated`);
}

function hexBytes(v: unknown, len: number, what: string): number[] | undefined {
  if (typeof v !== 'string' || v.length !== len * 2) return undefined;
  if (!/^[0-9a-f]+$/i.test(v)) throw invalid(`${what} is not hex`);
  return [...Buffer.from(v, 'hex')];
}

export function createIntelCollateralProvider(o: IntelCollateralOptions): CollateralProvider {
  const anchors = anchorsFrom(o.rootCaPems, o.rootCaPems && o.rootCaPems.length > 0 ? [] : [INTEL_SGX_ROOT_CA_SHA256]);
  return {
    async tcbStatus(q: TcbQuery): Promise<TcbStatus | undefined> {
      if ((q.platform !== 'sgx' && q.platform !== 'tdx') || !q.platformId) return undefined;
      const now = q.now ?? new Date();
      for (const entry of o.tcbInfos) {
        let body: { tcbInfo?: Record<string, unknown>; signature?: string };
        try {
          body = JSON.parse(entry.tcbInfoJson);
        } catch (cause) {
          throw invalid('not JSON', cause);
        }
        const info = body.tcbInfo;
        if (!info || typeof info.fmspc !== 'string' || info.fmspc.toLowerCase() !== q.platformId.toLowerCase()) continue;
        if ((info.id ?? 'SGX') !== (q.platform === 'tdx' ? 'TDX' : 'SGX')) continue;
        const chain = pemBlocks(entry.issuerChainPem).map((p, i) => parseCert(p, `TCB Info issuer certificate ${i}`));
        try {
          verifyChain(chain, anchors, now, 'TCB Info signing chain');
        } catch (cause) {
          throw invalid(`signing chain rejected: ${(cause as Error).message}`, cause);
        }
        const sig = Buffer.from(body.signature ?? '', 'hex');
        if (sig.length !== 64 || !verify('sha256', Buffer.from(rawJsonMember(entry.tcbInfoJson, 'tcbInfo'), 'utf8'), { key: chain[0]!.publicKey, dsaEncoding: 'ieee-p1363' }, sig)) {
          throw invalid('signature over tcbInfo does not verify');
        }
        const next = new Date(String(info.nextUpdate));
        if (Number.isNaN(next.getTime()) || next.getTime() < now.getTime()) throw invalid(`expired (nextUpdate ${String(info.nextUpdate)})`);
        const pck = hexBytes(q.svn.pck_tcb, 16, 'pck_tcb');
        const pce = typeof q.svn.pce_svn === 'number' ? q.svn.pce_svn : undefined;
        if (!pck || pce === undefined) return undefined;
        const tee = q.platform === 'tdx' ? hexBytes(q.svn.tee_tcb_svn, 16, 'tee_tcb_svn') : undefined;
        if (q.platform === 'tdx' && !tee) return undefined;
        for (const level of (info.tcbLevels ?? []) as TcbLevel[]) {
          const sgxOk = level.tcb.sgxtcbcomponents.every((c, i) => pck[i]! >= c.svn) && pce >= level.tcb.pcesvn;
          const from = tee && tee[1]! > 0 ? 2 : 0;
          const tdxOk = !tee || (level.tcb.tdxtcbcomponents ?? []).every((c, i) => i < from || tee[i]! >= c.svn);
          if (sgxOk && tdxOk) {
            if (!(STATUSES as readonly string[]).includes(level.tcbStatus)) throw invalid(`unknown tcbStatus ${level.tcbStatus}`);
            return level.tcbStatus as TcbStatus;
          }
        }
        return 'OutOfDate';
      }
      return undefined;
    },
  };
}
