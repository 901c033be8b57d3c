// The offline Intel collateral directory: what `aenv collateral fetch` writes
// and createCollateralDirProvider reads at each verification (so a refreshed
// directory applies without a restart). The bodies are kept exactly as Intel
// PCS / a PCCS served them (the signatures cover their raw bytes); the issuer
// chains from the response headers are kept URL-decoded as PEM beside them.
//
//   DIR/collateral.json                      manifest: format, source, fetchedAt, fmspcs
//   DIR/root-ca-crl.der                      Intel SGX Root CA CRL (DER)
//   DIR/pck-crl-{processor,platform}.der     PCK CA CRLs (DER), GET /sgx/certification/v4/pckcrl?ca=...
//   DIR/pck-crl-{processor,platform}-issuer-chain.pem   SGX-PCK-CRL-Issuer-Chain
//   DIR/{sgx,tdx}/qe-identity.json           GET /{sgx,tdx}/certification/v4/qe/identity
//   DIR/{sgx,tdx}/qe-identity-issuer-chain.pem          SGX-Enclave-Identity-Issuer-Chain
//   DIR/{sgx,tdx}/tcb/<fmspc>.json           GET /{sgx,tdx}/certification/v4/tcb?fmspc=<fmspc> (lowercase hex)
//   DIR/{sgx,tdx}/tcb/<fmspc>-issuer-chain.pem          TCB-Info-Issuer-Chain
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CollateralProvider, TcbQuery } from '../core/collateral.ts';
import { evaluateIntelCollateral, type IntelCollateralOptions, type IntelCollateralSet, type IntelPckCrlEntry, type IntelQeIdentityEntry, type IntelTcbInfoEntry } from '../core/dcap/intel-collateral.ts';
import { PlatformError } from '../errors.ts';

export const COLLATERAL_FORMAT = 'aenv-intel-collateral/1';

export type DcapTee = 'sgx' | 'tdx';
export type PckCa = 'processor' | 'platform';

/** Everything of one fetch, as the directory holds it. */
export interface CollateralBundle {
  manifest: CollateralManifest;
  rootCaCrl?: Buffer;
  pckCrls: Partial<Record<PckCa, { crl: Buffer; issuerChainPem: string }>>;
  qeIdentities: Partial<Record<DcapTee, { json: string; issuerChainPem: string }>>;
  tcbInfos: Array<{ tee: DcapTee; fmspc: string; json: string; issuerChainPem: string }>;
}

export interface CollateralManifest {
  format: typeof COLLATERAL_FORMAT;
  /** Where it came from (PCCS or PCS base URL). */
  source: string;
  fetchedAt: string;
  fmspcs: string[];
  update?: 'standard' | 'early';
}

export const collateralPaths = {
  manifest: 'collateral.json',
  rootCaCrl: 'root-ca-crl.der',
  pckCrl: (ca: PckCa) => `pck-crl-${ca}.der`,
  pckCrlChain: (ca: PckCa) => `pck-crl-${ca}-issuer-chain.pem`,
  qeIdentity: (tee: DcapTee) => join(tee, 'qe-identity.json'),
  qeIdentityChain: (tee: DcapTee) => join(tee, 'qe-identity-issuer-chain.pem'),
  tcbInfo: (tee: DcapTee, fmspc: string) => join(tee, 'tcb', `${fmspc}.json`),
  tcbInfoChain: (tee: DcapTee, fmspc: string) => join(tee, 'tcb', `${fmspc}-issuer-chain.pem`),
};

export const FMSPC_RE = /^[0-9a-f]{12}$/;

async function atomicWrite(path: string, data: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Writes a bundle into `dir` (each file atomically; the manifest last). Returns the files written, relative to dir. */
export async function writeCollateralDir(dir: string, b: CollateralBundle): Promise<string[]> {
  const files: Array<[string, string | Buffer]> = [];
  if (b.rootCaCrl) files.push([collateralPaths.rootCaCrl, b.rootCaCrl]);
  for (const ca of ['processor', 'platform'] as const) {
    const c = b.pckCrls[ca];
    if (c) files.push([collateralPaths.pckCrl(ca), c.crl], [collateralPaths.pckCrlChain(ca), c.issuerChainPem]);
  }
  for (const tee of ['sgx', 'tdx'] as const) {
    const q = b.qeIdentities[tee];
    if (q) files.push([collateralPaths.qeIdentity(tee), q.json], [collateralPaths.qeIdentityChain(tee), q.issuerChainPem]);
  }
  for (const t of b.tcbInfos) {
    if (!FMSPC_RE.test(t.fmspc)) throw new PlatformError('INVALID_INPUT', `FMSPC "${t.fmspc}" is not 6 bytes of lowercase hex`);
    files.push([collateralPaths.tcbInfo(t.tee, t.fmspc), t.json], [collateralPaths.tcbInfoChain(t.tee, t.fmspc), t.issuerChainPem]);
  }
  files.push([collateralPaths.manifest, `${JSON.stringify(b.manifest, null, 2)}\n`]);
  for (const [rel, data] of files) await atomicWrite(join(dir, rel), data);
  return files.map(([rel]) => rel);
}

async function readOpt(path: string, enc?: 'utf8'): Promise<Buffer | string | undefined> {
  try {
    return enc ? await readFile(path, enc) : await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PlatformError('COLLATERAL_INVALID', `collateral directory: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

async function readPair(dir: string, body: string, chain: string, what: string): Promise<{ body: string; chain: string } | undefined> {
  const b = (await readOpt(join(dir, body), 'utf8')) as string | undefined;
  if (b === undefined) return undefined;
  const c = (await readOpt(join(dir, chain), 'utf8')) as string | undefined;
  if (c === undefined) throw new PlatformError('COLLATERAL_INVALID', `collateral directory ${dir}: ${body} has no ${chain} (its ${what} issuer chain)`);
  return { body: b, chain: c };
}

/**
 * Reads what applies to one TEE and FMSPC (or, without fmspc, every TCB Info
 * listed by the manifest) from a collateral directory.
 */
export async function readCollateralDir(dir: string, select?: { tee?: DcapTee; fmspc?: string }): Promise<IntelCollateralSet & { manifest?: CollateralManifest }> {
  const manifestText = (await readOpt(join(dir, collateralPaths.manifest), 'utf8')) as string | undefined;
  let manifest: CollateralManifest | undefined;
  if (manifestText !== undefined) {
    try {
      manifest = JSON.parse(manifestText) as CollateralManifest;
    } catch (cause) {
      throw new PlatformError('COLLATERAL_INVALID', `collateral directory ${dir}: ${collateralPaths.manifest} is not JSON`, { cause });
    }
    if (manifest.format !== COLLATERAL_FORMAT) throw new PlatformError('COLLATERAL_INVALID', `collateral directory ${dir}: format "${String(manifest.format)}" is not ${COLLATERAL_FORMAT}`);
  }
  const tees: DcapTee[] = select?.tee ? [select.tee] : ['sgx', 'tdx'];
  const fmspcs = select?.fmspc ? [select.fmspc.toLowerCase()] : (manifest?.fmspcs ?? []).map((f) => f.toLowerCase());
  const tcbInfos: IntelTcbInfoEntry[] = [];
  for (const tee of tees) {
    for (const fmspc of fmspcs) {
      if (!FMSPC_RE.test(fmspc)) throw new PlatformError('COLLATERAL_INVALID', `FMSPC "${fmspc}" is not 6 bytes of hex`);
      const p = await readPair(dir, collateralPaths.tcbInfo(tee, fmspc), collateralPaths.tcbInfoChain(tee, fmspc), 'TCB Info');
      if (p) tcbInfos.push({ tcbInfoJson: p.body, issuerChainPem: p.chain });
    }
  }
  const qeIdentities: IntelQeIdentityEntry[] = [];
  for (const tee of tees) {
    const p = await readPair(dir, collateralPaths.qeIdentity(tee), collateralPaths.qeIdentityChain(tee), 'QE Identity');
    if (p) qeIdentities.push({ qeIdentityJson: p.body, issuerChainPem: p.chain, tee });
  }
  const pckCrls: IntelPckCrlEntry[] = [];
  for (const ca of ['processor', 'platform'] as const) {
    const crl = (await readOpt(join(dir, collateralPaths.pckCrl(ca)))) as Buffer | undefined;
    if (!crl) continue;
    const chain = (await readOpt(join(dir, collateralPaths.pckCrlChain(ca)), 'utf8')) as string | undefined;
    if (chain === undefined) throw new PlatformError('COLLATERAL_INVALID', `collateral directory ${dir}: ${collateralPaths.pckCrl(ca)} has no ${collateralPaths.pckCrlChain(ca)}`);
    pckCrls.push({ crl, issuerChainPem: chain });
  }
  const rootCaCrl = (await readOpt(join(dir, collateralPaths.rootCaCrl))) as Buffer | undefined;
  return { tcbInfos, qeIdentities, pckCrls, ...(rootCaCrl ? { rootCaCrl } : {}), ...(manifest ? { manifest } : {}) };
}

export interface CollateralDirOptions {
  /** Replaces the pinned Intel SGX Root CA for the collateral's signing chains (tests, private PCCS). */
  rootCaPems?: string[];
  /**
   * Evaluate a TCB Info even when the QE Identity or a CRL it needs is missing
   * (reported as not-checked entries). Default false: an incomplete directory is
   * COLLATERAL_INVALID.
   */
  allowPartial?: boolean;
}

/**
 * A CollateralProvider over an offline collateral directory (format above). Each
 * verification reads the files it needs for the quote's TEE and FMSPC; a missing
 * directory is COLLATERAL_INVALID (configured collateral must be there), an FMSPC
 * without TCB Info is TCB status Unknown (with the CRLs still checked).
 */
export function createCollateralDirProvider(dir: string, opts: CollateralDirOptions = {}): CollateralProvider {
  async function evaluate(q: TcbQuery) {
    if ((q.platform !== 'sgx' && q.platform !== 'tdx') || !q.platformId) return undefined;
    const fmspc = q.platformId.toLowerCase();
    if (!FMSPC_RE.test(fmspc)) return undefined;
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new PlatformError('COLLATERAL_INVALID', `collateral directory ${dir} is missing (${(e as Error).message}): run \`aenv collateral fetch --out ${dir}\``, { cause: e });
    }
    const set = await readCollateralDir(dir, { tee: q.platform, fmspc });
    const o: IntelCollateralOptions = { ...set, requireComplete: !opts.allowPartial, ...(opts.rootCaPems ? { rootCaPems: opts.rootCaPems } : {}) };
    return evaluateIntelCollateral(o, q);
  }
  return {
    evaluate,
    async tcbStatus(q) {
      return (await evaluate(q))?.status;
    },
  };
}
