// Intel DCAP collateral for the tests: the public collateral vectors in
// test/fixtures/attestation/collateral/ as IntelCollateralOptions, the time
// window in which a set is valid, the same set in the PCS/PCCS HTTP API shape,
// and a stand-in Intel PKI (same names as Intel's, our keys) to sign edited
// collateral and CRLs with.
import { createPrivateKey, sign, type webcrypto, X509Certificate } from 'node:crypto';
import { x509 } from '../../foundation/x509.ts';
import type { IntelCollateralOptions } from '../../platforms/core/dcap/intel-collateral.ts';
import { certNames, parseCrl } from '../../platforms/core/dcap/crl.ts';
import { pemCerts, vector, vectorText } from './vectors.ts';

interface PhalaCollateral {
  pck_crl_issuer_chain: string;
  root_ca_crl: string;
  pck_crl: string;
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: string;
}

export function phalaJson(name: 'tdx_quote_collateral.json' | 'sgx_quote_collateral.json' | 'tdx_quote_outdated_collateral.json'): PhalaCollateral {
  return JSON.parse(vectorText(`collateral/phala/${name}`)) as PhalaCollateral;
}

/** The PCS response bodies: {"tcbInfo":<raw>,"signature":...}, {"enclaveIdentity":<raw>,"signature":...}. */
export const tcbInfoBody = (raw: string, sig: string) => `{"tcbInfo":${raw},"signature":"${sig}"}`;
export const qeIdentityBody = (raw: string, sig: string) => `{"enclaveIdentity":${raw},"signature":"${sig}"}`;

/** dcap-qvl's QuoteCollateralV3 of a sample quote, as one complete collateral set. */
export function phalaCollateral(name: Parameters<typeof phalaJson>[0]): IntelCollateralOptions {
  const d = phalaJson(name);
  return {
    tcbInfos: [{ tcbInfoJson: tcbInfoBody(d.tcb_info, d.tcb_info_signature), issuerChainPem: d.tcb_info_issuer_chain }],
    qeIdentities: [{ qeIdentityJson: qeIdentityBody(d.qe_identity, d.qe_identity_signature), issuerChainPem: d.qe_identity_issuer_chain }],
    pckCrls: [{ crl: d.pck_crl, issuerChainPem: d.pck_crl_issuer_chain }],
    rootCaCrl: d.root_ca_crl,
    requireComplete: true,
  };
}

/** go-tdx-guest's PCS samples (TDX, FMSPC 50806f000000, June 2023). */
export function goTdxGuestCollateral(): IntelCollateralOptions {
  const g = (f: string) => `collateral/go-tdx-guest/${f}`;
  const chain = vectorText(g('tcb-info-issuer-chain.pem'));
  return {
    tcbInfos: [{ tcbInfoJson: vectorText(g('sample_tcbInfo_response')), issuerChainPem: chain }],
    qeIdentities: [{ qeIdentityJson: vectorText(g('sample_qeIdentity_response')), issuerChainPem: chain }],
    pckCrls: [{ crl: vector(g('pckcrl')), issuerChainPem: vectorText(g('pck-crl-issuer-chain.pem')) }],
    rootCaCrl: vector(g('rootcrl.der')),
    requireComplete: true,
  };
}

/** When every document of the set is current: [latest issue, earliest next update]. */
export function collateralWindow(o: IntelCollateralOptions): { from: Date; to: Date; inside: Date } {
  const issued: number[] = [];
  const next: number[] = [];
  const body = (text: string, key: string) => (JSON.parse(text) as Record<string, { issueDate: string; nextUpdate: string }>)[key]!;
  for (const t of o.tcbInfos) {
    const b = body(t.tcbInfoJson, 'tcbInfo');
    issued.push(Date.parse(b.issueDate));
    next.push(Date.parse(b.nextUpdate));
  }
  for (const q of o.qeIdentities ?? []) {
    const b = body(q.qeIdentityJson, 'enclaveIdentity');
    issued.push(Date.parse(b.issueDate));
    next.push(Date.parse(b.nextUpdate));
  }
  for (const c of [...(o.pckCrls ?? []).map((p) => p.crl), ...(o.rootCaCrl ? [o.rootCaCrl] : [])]) {
    const crl = parseCrl(c);
    issued.push(crl.thisUpdate.getTime());
    next.push(crl.nextUpdate!.getTime());
  }
  const from = new Date(Math.max(...issued));
  const to = new Date(Math.min(...next));
  if (from >= to) throw new Error('the collateral set is never current as a whole');
  return { from, to, inside: new Date(from.getTime() + 3600_000) };
}

/** The same set as a PCCS serves it: path + query -> {status, headers, body}. */
export function pccsRoutes(sets: Array<{ o: IntelCollateralOptions; tee: 'sgx' | 'tdx'; fmspc: string; ca: 'processor' | 'platform' }>): Map<string, { headers: Record<string, string>; body: Buffer }> {
  const routes = new Map<string, { headers: Record<string, string>; body: Buffer }>();
  const enc = (pem: string) => encodeURIComponent(pem);
  for (const s of sets) {
    const t = s.o.tcbInfos[0]!;
    routes.set(`/${s.tee}/certification/v4/tcb?fmspc=${s.fmspc}&update=standard`, { headers: { 'TCB-Info-Issuer-Chain': enc(t.issuerChainPem), 'content-type': 'application/json' }, body: Buffer.from(t.tcbInfoJson) });
    const q = s.o.qeIdentities![0]!;
    routes.set(`/${s.tee}/certification/v4/qe/identity?update=standard`, { headers: { 'SGX-Enclave-Identity-Issuer-Chain': enc(q.issuerChainPem), 'content-type': 'application/json' }, body: Buffer.from(q.qeIdentityJson) });
    const c = s.o.pckCrls![0]!;
    // PCCS answers encoding=der with DER; the vectors hold hex or DER
    routes.set(`/sgx/certification/v4/pckcrl?ca=${s.ca}&encoding=der`, { headers: { 'SGX-PCK-CRL-Issuer-Chain': enc(c.issuerChainPem), 'content-type': 'application/pkix-crl' }, body: parseCrl(c.crl).der });
    routes.set('/sgx/certification/v4/rootcacrl', { headers: { 'content-type': 'application/pkix-crl' }, body: Buffer.from(parseCrl(s.o.rootCaCrl!).der.toString('hex')) });
  }
  return routes;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/**
 * A stand-in for Intel's PKI: a root, a TCB signing certificate and PCK Platform
 * and Processor CAs with exactly Intel's names (so CRLs of ours match the real
 * PCK certificates' issuer), and our own keys.
 */
export async function standInIntelPki() {
  const [realPlatformCa, realRoot] = pemCerts(vectorText('collateral/go-tdx-guest/pck-crl-issuer-chain.pem'));
  const realProcessorCa = pemCerts(JSON.parse(vectorText('collateral/phala/sgx_quote_collateral.json')).pck_crl_issuer_chain as string)[0]!;
  const name = (c: X509Certificate) => new x509.Name(new Uint8Array(certNames(c).subjectDer));
  const keys = async () => crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const rootKeys = await keys();
  const tcbKeys = await keys();
  const platformKeys = await keys();
  const processorKeys = await keys();
  const notBefore = new Date('2018-01-01');
  const notAfter = new Date('2049-01-01');
  const root = await x509.X509CertificateGenerator.create({ serialNumber: '22650cd65a9d3489f383b49552bf501b392706ac', subject: name(realRoot!), issuer: name(realRoot!), publicKey: rootKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: ALG, notBefore, notAfter, extensions: [new x509.BasicConstraintsExtension(true, 1, true)] });
  const issue = (subject: x509.Name, pub: webcrypto.CryptoKey, serial: string, ca: boolean) => x509.X509CertificateGenerator.create({ serialNumber: serial, subject, issuer: root.subjectName, publicKey: pub, signingKey: rootKeys.privateKey, signingAlgorithm: ALG, notBefore, notAfter, extensions: ca ? [new x509.BasicConstraintsExtension(true, 0, true)] : [] });
  const tcb = await issue(new x509.Name('CN=Intel SGX TCB Signing, O=Intel Corporation, L=Santa Clara, ST=CA, C=US'), tcbKeys.publicKey, '7e3882d5fb55294a40498e458403e91491bdf455', false);
  const platformCa = await issue(name(realPlatformCa!), platformKeys.publicKey, '956f5dcdbd1be1e94049c9d4f433ce01570bde54', true);
  const processorCa = await issue(name(realProcessorCa), processorKeys.publicKey, 'd0e8aada75d7f92e4917983c7b1465d0d5f2594d', true);
  const pkcs8 = async (k: webcrypto.CryptoKey) => createPrivateKey({ key: Buffer.from(await crypto.subtle.exportKey('pkcs8', k)), format: 'der', type: 'pkcs8' });
  const tcbKey = await pkcs8(tcbKeys.privateKey);
  const rootPem = root.toString('pem');
  const tcbChainPem = `${tcb.toString('pem')}\n${rootPem}`;
  const signRaw = (raw: string) => sign('sha256', Buffer.from(raw), { key: tcbKey, dsaEncoding: 'ieee-p1363' }).toString('hex');
  const crl = async (by: 'root' | 'platform' | 'processor', serials: string[], thisUpdate: Date, nextUpdate: Date) => {
    const [cert, key] = by === 'root' ? [root, rootKeys.privateKey] : by === 'platform' ? [platformCa, platformKeys.privateKey] : [processorCa, processorKeys.privateKey];
    const c = await x509.X509CrlGenerator.create({ issuer: cert.subjectName, thisUpdate, nextUpdate, signingAlgorithm: ALG, signingKey: key, entries: serials.map((s) => ({ serialNumber: s, revocationDate: thisUpdate })) });
    return Buffer.from(c.rawData);
  };
  return {
    rootPem,
    tcbChainPem,
    platformChainPem: `${platformCa.toString('pem')}\n${rootPem}`,
    processorChainPem: `${processorCa.toString('pem')}\n${rootPem}`,
    /** A TCB Info body (object or raw JSON text) signed by our TCB signing key, as PCS serves it. */
    tcbInfo: (info: object | string) => {
      const raw = typeof info === 'string' ? info : JSON.stringify(info);
      return { tcbInfoJson: tcbInfoBody(raw, signRaw(raw)), issuerChainPem: tcbChainPem };
    },
    qeIdentity: (id: object | string, tee?: 'sgx' | 'tdx') => {
      const raw = typeof id === 'string' ? id : JSON.stringify(id);
      return { qeIdentityJson: qeIdentityBody(raw, signRaw(raw)), issuerChainPem: tcbChainPem, ...(tee ? { tee } : {}) };
    },
    crl,
  };
}
