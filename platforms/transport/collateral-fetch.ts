// Fetches Intel DCAP collateral over HTTP(S) from a PCCS or from Intel PCS (API
// v4) for `aenv collateral fetch`: TCB Info per FMSPC and TEE, the SGX and TDX
// QE Identities, both PCK CA CRLs and the Intel SGX Root CA CRL, each with the
// issuer chain its response header carries. Everything fetched is verified to
// the Intel root before it is returned (verifyIntelCollateralDocuments), so a
// directory only ever holds collateral that verified when it was written.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { verifyIntelCollateralDocuments, type CollateralDocument } from '../core/dcap/intel-collateral.ts';
import { crlDer } from '../core/dcap/crl.ts';
import { PlatformError } from '../errors.ts';
import { COLLATERAL_FORMAT, FMSPC_RE, type CollateralBundle, type DcapTee, type PckCa } from './collateral-dir.ts';

/** Intel's Provisioning Certification Service (no API key is needed for collateral). */
export const INTEL_PCS_URL = 'https://api.trustedservices.intel.com';
/** The Intel SGX Root CA CRL (the CRL distribution point of the root certificate). */
export const INTEL_ROOT_CA_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

export interface CollateralFetchOptions {
  /** Base URL of a PCCS (e.g. https://pccs.example:8081), or of Intel PCS with `pcs: true`. */
  baseUrl: string;
  /** The base is Intel PCS: the Root CA CRL comes from rootCaCrlUrl (PCS serves none under the API). */
  pcs?: boolean;
  /** Root CA CRL URL for PCS (default INTEL_ROOT_CA_CRL_URL); a PCCS serves it at /sgx/certification/v4/rootcacrl. */
  rootCaCrlUrl?: string;
  /** FMSPCs (hex) to fetch TCB Info for; none: the service's FMSPC list (GET /sgx/certification/v4/fmspcs). */
  fmspcs?: string[];
  /** TEEs to fetch TCB Info and QE Identity for (default both). */
  tees?: DcapTee[];
  /** PCS/PCCS update type (default standard). */
  update?: 'standard' | 'early';
  /** Extra CA certificates (PEM) for the service's TLS certificate (a PCCS often has its own). */
  tlsCaPem?: string;
  /** Accept any TLS certificate (collateral is signed by Intel; TLS only hides what is asked). */
  tlsInsecure?: boolean;
  timeoutMs?: number;
  /** Time to verify the fetched collateral at (default now). */
  now?: Date;
  /** Replaces the pinned Intel SGX Root CA (tests, private PCCS). */
  rootCaPems?: string[];
}

export interface FetchedCollateral {
  bundle: CollateralBundle;
  documents: CollateralDocument[];
  /** TEE/FMSPC pairs the service had no TCB Info for (404), e.g. TDX for an SGX-only platform. */
  absent: string[];
}

interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const MAX_BODY = 4 * 1024 * 1024;

function get(url: string, o: CollateralFetchOptions): Promise<HttpResponse> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new PlatformError('INVALID_INPUT', `collateral URL ${url} is not http(s)`);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(u, { method: 'GET', headers: { accept: '*/*' }, timeout: o.timeoutMs ?? 30_000, ...(u.protocol === 'https:' ? { ...(o.tlsCaPem ? { ca: o.tlsCaPem } : {}), rejectUnauthorized: !o.tlsInsecure } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          r.destroy(new Error(`response larger than ${MAX_BODY} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`no answer within ${o.timeoutMs ?? 30_000} ms`)));
    r.on('error', reject);
    r.end();
  });
}

async function fetchOk(url: string, o: CollateralFetchOptions, allow404 = false): Promise<HttpResponse | undefined> {
  let res: HttpResponse;
  try {
    res = await get(url, o);
  } catch (cause) {
    throw new PlatformError('COLLATERAL_UNAVAILABLE', `collateral fetch: GET ${url}: ${(cause as Error).message}`, { cause });
  }
  if (res.status === 404 && allow404) return undefined;
  if (res.status !== 200) throw new PlatformError('COLLATERAL_UNAVAILABLE', `collateral fetch: GET ${url}: HTTP ${res.status}${res.body.length ? ` ${res.body.toString('utf8').slice(0, 200)}` : ''}`);
  return res;
}

/** An issuer-chain header, URL-decoded (PCS and PCCS send the PEM percent-encoded). */
function chainHeader(res: HttpResponse, names: string[], url: string): string {
  for (const n of names) {
    const v = res.headers[n.toLowerCase()];
    const s = Array.isArray(v) ? v[0] : v;
    if (s) {
      const pem = decodeURIComponent(s);
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new PlatformError('COLLATERAL_INVALID', `collateral fetch: ${url}: header ${n} holds no PEM certificate`);
      return pem;
    }
  }
  throw new PlatformError('COLLATERAL_INVALID', `collateral fetch: ${url}: no ${names[0]} header`);
}

const api = (base: string, tee: DcapTee, path: string) => `${base.replace(/\/+$/, '')}/${tee}/certification/v4/${path}`;

/** Fetches, verifies and returns a collateral bundle (nothing is written). */
export async function fetchIntelCollateral(o: CollateralFetchOptions): Promise<FetchedCollateral> {
  const tees = o.tees ?? ['sgx', 'tdx'];
  const update = o.update ?? 'standard';
  const base = o.baseUrl;
  let fmspcs = (o.fmspcs ?? []).map((f) => f.toLowerCase());
  for (const f of fmspcs) if (!FMSPC_RE.test(f)) throw new PlatformError('INVALID_INPUT', `FMSPC "${f}" is not 6 bytes of hex`);
  if (fmspcs.length === 0) {
    const url = api(base, 'sgx', 'fmspcs');
    const res = await fetchOk(url, o);
    let list: unknown;
    try {
      list = JSON.parse(res!.body.toString('utf8'));
    } catch (cause) {
      throw new PlatformError('COLLATERAL_INVALID', `collateral fetch: ${url} is not JSON`, { cause });
    }
    if (!Array.isArray(list)) throw new PlatformError('COLLATERAL_INVALID', `collateral fetch: ${url} is not a list`);
    fmspcs = list.map((e) => String((e as { fmspc?: unknown }).fmspc ?? '').toLowerCase()).filter((f) => FMSPC_RE.test(f));
    if (fmspcs.length === 0) throw new PlatformError('COLLATERAL_INVALID', `collateral fetch: ${url} lists no FMSPC; name them with --fmspc`);
  }
  fmspcs = [...new Set(fmspcs)].sort();
  const bundle: CollateralBundle = {
    manifest: { format: COLLATERAL_FORMAT, source: base, fetchedAt: new Date().toISOString(), fmspcs, update },
    pckCrls: {},
    qeIdentities: {},
    tcbInfos: [],
  };
  const absent: string[] = [];
  for (const ca of ['processor', 'platform'] as PckCa[]) {
    const url = api(base, 'sgx', `pckcrl?ca=${ca}&encoding=der`);
    const res = (await fetchOk(url, o))!;
    bundle.pckCrls[ca] = { crl: crlDer(res.body, `PCK CRL (${ca})`), issuerChainPem: chainHeader(res, ['SGX-PCK-CRL-Issuer-Chain'], url) };
  }
  const rootUrl = o.pcs ? (o.rootCaCrlUrl ?? INTEL_ROOT_CA_CRL_URL) : (o.rootCaCrlUrl ?? api(base, 'sgx', 'rootcacrl'));
  bundle.rootCaCrl = crlDer((await fetchOk(rootUrl, o))!.body, 'Intel SGX Root CA CRL');
  for (const tee of tees) {
    const url = api(base, tee, `qe/identity?update=${update}`);
    const res = (await fetchOk(url, o))!;
    bundle.qeIdentities[tee] = { json: res.body.toString('utf8'), issuerChainPem: chainHeader(res, ['SGX-Enclave-Identity-Issuer-Chain'], url) };
    for (const fmspc of fmspcs) {
      const turl = api(base, tee, `tcb?fmspc=${fmspc}&update=${update}`);
      const t = await fetchOk(turl, o, true);
      if (!t) {
        absent.push(`${tee} ${fmspc}`);
        continue;
      }
      bundle.tcbInfos.push({ tee, fmspc, json: t.body.toString('utf8'), issuerChainPem: chainHeader(t, ['TCB-Info-Issuer-Chain', 'SGX-TCB-Info-Issuer-Chain'], turl) });
    }
  }
  if (bundle.tcbInfos.length === 0) throw new PlatformError('COLLATERAL_INVALID', `collateral fetch: ${base} has TCB Info for none of ${fmspcs.join(', ')}`);
  const documents = verifyIntelCollateralDocuments(
    {
      tcbInfos: bundle.tcbInfos.map((t) => ({ tcbInfoJson: t.json, issuerChainPem: t.issuerChainPem })),
      qeIdentities: (Object.entries(bundle.qeIdentities) as Array<[DcapTee, { json: string; issuerChainPem: string }]>).map(([tee, q]) => ({ qeIdentityJson: q.json, issuerChainPem: q.issuerChainPem, tee })),
      pckCrls: Object.values(bundle.pckCrls).map((c) => ({ crl: c.crl, issuerChainPem: c.issuerChainPem })),
      rootCaCrl: bundle.rootCaCrl,
      ...(o.rootCaPems ? { rootCaPems: o.rootCaPems } : {}),
    },
    o.now ?? new Date(),
  );
  // The TCB Info a response holds is for the FMSPC asked for.
  for (const t of bundle.tcbInfos) {
    const fm = (JSON.parse(t.json) as { tcbInfo?: { fmspc?: string } }).tcbInfo?.fmspc?.toLowerCase();
    if (fm !== t.fmspc) throw new PlatformError('COLLATERAL_INVALID', `collateral fetch: ${t.tee} TCB Info asked for FMSPC ${t.fmspc} is for ${String(fm)}`);
  }
  return { bundle, documents, absent };
}
