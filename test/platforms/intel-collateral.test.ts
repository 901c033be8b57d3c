// Intel DCAP collateral evaluated offline (platforms/core/dcap/intel-collateral.ts):
// each real quote with its real collateral (go-tdx-guest, dcap-qvl samples) gets
// Intel's TCB status at a "now" inside the collateral's validity; tampered,
// expired or mismatched collateral and revoked certificates fail with precise
// codes. Edits that no real vector shows (a revoked PCK, another QE or TDX module
// identity, convergence of statuses) are signed by a stand-in PKI with Intel's
// names and our keys.
import t from 'tap';
import { createPrivateKey, sign } from 'node:crypto';
import { x509 } from '../../foundation/x509.ts';
import { createIntelCollateralProvider, evaluateIntelCollateral, rawJsonMember, type IntelCollateralOptions } from '../../platforms/core/dcap/intel-collateral.ts';
import { certNames, parseCrl } from '../../platforms/core/dcap/crl.ts';
import { parseDcapQuote } from '../../platforms/core/dcap/quote.ts';
import { createEvidenceVerifier, type Claims, type PlatformName } from '../../platforms/index.ts';
import type { TcbQuery } from '../../platforms/core/collateral.ts';
import { collateralWindow, goTdxGuestCollateral, phalaCollateral, phalaJson, standInIntelPki } from './collateral-vectors.ts';
import { nowWithin, pemCerts, vector } from './vectors.ts';

const verifyWith = (o: IntelCollateralOptions, file: string, platform: PlatformName, now: Date): Promise<Claims> =>
  createEvidenceVerifier({ collateral: createIntelCollateralProvider(o) }).verify({ platform, quote: vector(file) }, { now });

const check = (c: Claims, name: string) => c.checks.find((x) => x.check === name);

t.test('real quotes with their real collateral: Intel TCB status', async (t) => {
  const cases: Array<{ file: string; platform: PlatformName; set: () => IntelCollateralOptions; status?: string; code?: string; module?: RegExp; advisories?: string }> = [
    // SPR TDX quote of 2023 under go-tdx-guest's PCS samples of June 2023
    { file: 'tr_tdx_quote_4.dat', platform: 'tdx', set: goTdxGuestCollateral, status: 'UpToDate', module: /TDX module \(tdxModule\)/ },
    // the engineering-sample (SPR E4) quote's PCK TCB is below every level Intel lists for FMSPC 50806f000000
    { file: 'tdx_v4.dat', platform: 'tdx', set: goTdxGuestCollateral, code: 'TCB_NOT_SUPPORTED' },
    { file: 'phala_tdx.dat', platform: 'tdx', set: () => phalaCollateral('tdx_quote_collateral.json'), status: 'UpToDate', module: /TDX module identity TDX_01 \(SVN 6: UpToDate\)/ },
    { file: 'phala_sgx.dat', platform: 'sgx', set: () => phalaCollateral('sgx_quote_collateral.json'), status: 'ConfigurationAndSWHardeningNeeded', advisories: 'INTEL-SA-00289,INTEL-SA-00615' },
    // TDX 1.5 (quote v5, body type 3), FMSPC 90c06f000000, collateral of February 2026
    { file: 'tdx_v5.dat', platform: 'tdx', set: () => phalaCollateral('tdx_quote_outdated_collateral.json'), status: 'UpToDate', module: /TDX_01 \(SVN 11: UpToDate\)/ },
    { file: 'tr_tdx_quote_5.dat', platform: 'tdx', set: () => phalaCollateral('tdx_quote_outdated_collateral.json'), code: 'TCB_NOT_SUPPORTED' },
    { file: 'phala_tdx_outdated.dat', platform: 'tdx', set: () => phalaCollateral('tdx_quote_outdated_collateral.json'), code: 'TCB_NOT_SUPPORTED' },
  ];
  for (const c of cases) {
    const o = c.set();
    const now = collateralWindow(o).inside;
    if (c.code) {
      await t.rejects(verifyWith(o, c.file, c.platform, now), { code: c.code, message: /no TCB level is met/ }, `${c.file}: ${c.code}`);
      continue;
    }
    const claims = await verifyWith(o, c.file, c.platform, now);
    t.equal(claims.tcb.status, c.status, `${c.file}: ${c.status}`);
    t.match(check(claims, 'crl'), { result: 'pass', detail: /PCK certificate not revoked by the Intel SGX PCK (Platform|Processor) CA CRL/ }, `${c.file}: PCK and root CA CRLs`);
    t.match(check(claims, 'qe-identity-collateral'), { result: 'pass', detail: c.platform === 'tdx' ? /TD_QE identity/ : /QE identity/ }, `${c.file}: QE Identity`);
    t.match(check(claims, 'tcb-info'), { result: 'pass', detail: /Intel TCB Info for/ }, `${c.file}: TCB Info`);
    t.match(check(claims, 'tcb-status'), { result: c.status === 'UpToDate' ? 'pass' : 'warn' });
    if (c.module) t.match(check(claims, 'tdx-module-identity'), { result: 'pass', detail: c.module }, `${c.file}: TDX module`);
    if (c.advisories) {
      t.equal(claims.extra?.tcb_advisories, c.advisories, `${c.file}: advisories`);
      t.match(check(claims, 'tcb-status')?.detail, /INTEL-SA-00289/);
    }
    t.ok(claims.extra?.tcb_date, `${c.file}: tcb date`);
  }
});

t.test('real collateral: expired, not yet valid, tampered, wrong root, wrong QE identity, incomplete', async (t) => {
  const base = () => phalaCollateral('tdx_quote_collateral.json');
  const w = collateralWindow(base());
  const tdx = (o: IntelCollateralOptions, now = w.inside) => verifyWith(o, 'phala_tdx.dat', 'tdx', now);
  t.ok((await tdx(base())).tcb.status === 'UpToDate');
  await t.rejects(tdx(base(), new Date(w.to.getTime() + 86400_000)), { code: 'COLLATERAL_EXPIRED', message: /expired|nextUpdate/ }, 'a day after the first next update');
  await t.rejects(tdx(base(), new Date(w.from.getTime() - 86400_000)), { code: 'COLLATERAL_EXPIRED', message: /not valid before/ }, 'before it was issued');
  const d = phalaJson('tdx_quote_collateral.json');
  // one level's status edited: Intel's signature no longer covers the body
  const edited = base();
  edited.tcbInfos[0]!.tcbInfoJson = edited.tcbInfos[0]!.tcbInfoJson.replace('"tcbStatus":"OutOfDate"', '"tcbStatus":"UpToDate"');
  t.not(edited.tcbInfos[0]!.tcbInfoJson, base().tcbInfos[0]!.tcbInfoJson);
  await t.rejects(tdx(edited), { code: 'COLLATERAL_INVALID', message: /TCB Info .*signature .*does not verify/ }, 'tampered TCB Info');
  const badSig = base();
  badSig.tcbInfos[0]!.tcbInfoJson = badSig.tcbInfos[0]!.tcbInfoJson.replace(`"signature":"${d.tcb_info_signature}"`, `"signature":"${d.tcb_info_signature.slice(0, -2)}00"`);
  await t.rejects(tdx(badSig), { code: 'COLLATERAL_INVALID', message: /signature/ }, 'tampered TCB Info signature');
  const badQe = base();
  badQe.qeIdentities![0]!.qeIdentityJson = badQe.qeIdentities![0]!.qeIdentityJson.replace('"isvprodid":2', '"isvprodid":1');
  await t.rejects(tdx(badQe), { code: 'COLLATERAL_INVALID', message: /QE Identity.*signature/ }, 'tampered QE Identity');
  const crlDer = Buffer.from(d.pck_crl, 'hex');
  crlDer[crlDer.length - 5]! ^= 1;
  await t.rejects(tdx({ ...base(), pckCrls: [{ crl: crlDer, issuerChainPem: d.pck_crl_issuer_chain }] }), { code: 'COLLATERAL_INVALID', message: /PCK CRL.*signature/ }, 'tampered PCK CRL');
  // signed by Intel, but verified against another root
  const other = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Not Intel', keys: await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']), signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] });
  await t.rejects(tdx({ ...base(), rootCaPems: [other.toString('pem')] }), { code: 'COLLATERAL_INVALID', message: /signing chain rejected/ }, 'wrong root');
  // the SGX QE Identity (Intel-signed, current) given as the TDX one
  const sgx = phalaCollateral('sgx_quote_collateral.json');
  await t.rejects(tdx({ ...base(), qeIdentities: [{ ...sgx.qeIdentities![0]!, tee: 'tdx' }] }), { code: 'QE_IDENTITY_MISMATCH', message: /its id is "QE", a TDX quote needs the "TD_QE" identity/ }, 'wrong QE identity');
  // the SGX quote's QE against the TDX QE Identity
  await t.rejects(verifyWith({ ...sgx, qeIdentities: [{ ...base().qeIdentities![0]!, tee: 'sgx' }] }, 'phala_sgx.dat', 'sgx', collateralWindow(sgx).inside), { code: 'QE_IDENTITY_MISMATCH' });
  // incomplete: no QE Identity for TDX, or no CRL of the PCK's CA
  await t.rejects(tdx({ ...base(), qeIdentities: sgx.qeIdentities }), { code: 'COLLATERAL_INVALID', message: /incomplete .*missing the TD_QE QE Identity/ });
  await t.rejects(tdx({ ...base(), pckCrls: sgx.pckCrls }), { code: 'COLLATERAL_INVALID', message: /missing the PCK CRL of Intel SGX PCK Platform CA/ }, 'only the Processor CA CRL');
  // ... which without requireComplete are listed as not checked
  const partial = await tdx({ ...base(), qeIdentities: [], pckCrls: [], rootCaCrl: undefined, requireComplete: false });
  t.equal(partial.tcb.status, 'UpToDate');
  t.match(check(partial, 'crl'), { result: 'not-checked', detail: /no CRLs/ });
  t.match(check(partial, 'qe-identity-collateral'), { result: 'not-checked' });
  // another FMSPC: no TCB Info applies, the CRLs are still checked
  const claims = await verifyWith(base(), 'tr_tdx_quote_5.dat', 'tdx', w.inside);
  t.equal(claims.tcb.status, 'Unknown');
  t.match(check(claims, 'tcb-info'), { result: 'not-checked', detail: /FMSPC 90c06f000000/ });
  t.match(check(claims, 'crl'), { result: 'pass' });
});

t.test('stand-in PKI: revocation, QE and TDX module identities, status convergence', async (t) => {
  const pki = await standInIntelPki();
  const d = phalaJson('tdx_quote_collateral.json');
  const info = JSON.parse(d.tcb_info) as Record<string, any>;
  const qe = JSON.parse(d.qe_identity) as Record<string, any>;
  const now = new Date('2025-06-20T00:00:00Z');
  const crlFrom = new Date('2025-06-01');
  const crlTo = new Date('2025-07-01');
  const quote = parseDcapQuote(vector('phala_tdx.dat'));
  const [pck, platformCa] = pemCerts(quote.cert.pckChainPem);
  const set = async (o: { info?: (i: any) => void; qe?: (q: any) => void; revokedPck?: string[]; revokedByRoot?: string[]; crlTo?: Date } = {}): Promise<IntelCollateralOptions> => {
    const i = structuredClone(info);
    const q = structuredClone(qe);
    o.info?.(i);
    o.qe?.(q);
    return {
      tcbInfos: [pki.tcbInfo(i)],
      qeIdentities: [pki.qeIdentity(q, 'tdx')],
      pckCrls: [{ crl: await pki.crl('platform', o.revokedPck ?? [], crlFrom, o.crlTo ?? crlTo), issuerChainPem: pki.platformChainPem }],
      rootCaCrl: await pki.crl('root', o.revokedByRoot ?? [], crlFrom, crlTo),
      rootCaPems: [pki.rootPem],
      requireComplete: true,
    };
  };
  const run = async (o: Parameters<typeof set>[0] = {}) => verifyWith(await set(o), 'phala_tdx.dat', 'tdx', now);
  t.equal((await run()).tcb.status, 'UpToDate', 're-signed as it was: UpToDate');

  // revocation
  await t.rejects(run({ revokedPck: ['0a', certNames(pck!).serial] }), { code: 'CERT_REVOKED', message: /the PCK certificate \(serial 3c16ed54.*\) is revoked by the Intel SGX PCK Platform CA CRL/ }, 'revoked PCK');
  await t.rejects(run({ revokedByRoot: [certNames(platformCa!).serial] }), { code: 'CERT_REVOKED', message: /"Intel SGX PCK Platform CA" .* revoked by the Intel SGX Root CA CRL/ }, 'revoked PCK CA');
  await t.rejects(run({ revokedByRoot: ['7e3882d5fb55294a40498e458403e91491bdf455'] }), { code: 'CERT_REVOKED', message: /Intel SGX TCB Signing/ }, 'revoked TCB signing certificate');
  await t.rejects(run({ crlTo: new Date('2025-06-10') }), { code: 'COLLATERAL_EXPIRED', message: /PCK CRL .*expired/ }, 'expired PCK CRL');
  t.equal((await run({ revokedPck: ['0a', '0b'] })).tcb.status, 'UpToDate', 'other serials revoked');

  // QE identity
  await t.rejects(run({ qe: (q) => (q.mrsigner = '00'.repeat(32)) }), { code: 'QE_IDENTITY_MISMATCH', message: /MRSIGNER/ });
  await t.rejects(run({ qe: (q) => (q.isvprodid = 1) }), { code: 'QE_IDENTITY_MISMATCH', message: /ISVPRODID 2 is not 1/ });
  await t.rejects(run({ qe: (q) => ((q.attributes = '00'.repeat(16)), (q.attributesMask = 'FF'.repeat(16))) }), { code: 'QE_IDENTITY_MISMATCH', message: /ATTRIBUTES/ });
  await t.rejects(run({ qe: (q) => (q.miscselect = '01000000') }), { code: 'QE_IDENTITY_MISMATCH', message: /MISCSELECT/ });
  await t.rejects(run({ qe: (q) => (q.id = 'QE') }), { code: 'QE_IDENTITY_MISMATCH', message: /its id is "QE"/ });
  await t.rejects(run({ qe: (q) => (q.tcbLevels = [{ tcb: { isvsvn: 9 }, tcbStatus: 'UpToDate' }]) }), { code: 'TCB_NOT_SUPPORTED', message: /QE's ISVSVN 6 is below every QE TCB level/ });
  const qeOut = await run({ qe: (q) => (q.tcbLevels = [{ tcb: { isvsvn: 8 }, tcbStatus: 'UpToDate' }, { tcb: { isvsvn: 5 }, tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00999'] }]) });
  t.equal(qeOut.tcb.status, 'OutOfDate', 'an OutOfDate QE makes an UpToDate platform OutOfDate');
  t.match(check(qeOut, 'qe-identity-collateral')?.detail, /ISVSVN 6: OutOfDate/);
  t.equal(qeOut.extra?.tcb_advisories, 'INTEL-SA-00999');
  t.equal((await run({ qe: (q) => (q.tcbLevels = [{ tcb: { isvsvn: 5 }, tcbStatus: 'Revoked' }]) })).tcb.status, 'Revoked', 'a Revoked QE: Revoked');

  // TCB levels and the TDX module (TEE_TCB_SVN 06 01 ..: module major 1, SVN 6 -> identity TDX_01)
  const level0 = (f: (l: any) => void) => (i: any) => f(i.tcbLevels[0]);
  const sw = await run({ info: level0((l) => ((l.tcbStatus = 'SWHardeningNeeded'), (l.advisoryIDs = ['INTEL-SA-00615']))) });
  t.equal(sw.tcb.status, 'SWHardeningNeeded');
  t.equal(sw.extra?.tcb_advisories, 'INTEL-SA-00615');
  const tdx01 = (f: (m: any) => void) => (i: any) => f(i.tdxModuleIdentities.find((m: any) => m.id === 'TDX_01'));
  await t.rejects(run({ info: tdx01((m) => (m.mrsigner = 'AA'.repeat(48))) }), { code: 'TDX_MODULE_MISMATCH', message: /MRSIGNERSEAM 0000000000000000.. is not the TDX module identity TDX_01/ });
  await t.rejects(run({ info: tdx01((m) => (m.id = 'TDX_02')) }), { code: 'TDX_MODULE_MISMATCH', message: /no TDX module identity TDX_01/ });
  await t.rejects(run({ info: tdx01((m) => (m.attributes = '0100000000000000')) }), { code: 'TDX_MODULE_MISMATCH', message: /SEAMATTRIBUTES/ });
  await t.rejects(run({ info: tdx01((m) => (m.tcbLevels = [{ tcb: { isvsvn: 7 }, tcbStatus: 'UpToDate' }])) }), { code: 'TCB_NOT_SUPPORTED', message: /TDX module TDX_01 SVN 6/ });
  const modOut = tdx01((m) => (m.tcbLevels = [{ tcb: { isvsvn: 7 }, tcbStatus: 'UpToDate' }, { tcb: { isvsvn: 4 }, tcbStatus: 'OutOfDate' }]));
  t.equal((await run({ info: modOut })).tcb.status, 'OutOfDate', 'an OutOfDate TDX module makes UpToDate OutOfDate');
  t.equal((await run({ info: (i) => (modOut(i), (i.tcbLevels[0].tcbStatus = 'ConfigurationNeeded')) })).tcb.status, 'OutOfDateConfigurationNeeded', '... and ConfigurationNeeded OutOfDateConfigurationNeeded');
  t.equal((await run({ info: tdx01((m) => (m.tcbLevels = [{ tcb: { isvsvn: 4 }, tcbStatus: 'Revoked' }])) })).tcb.status, 'Revoked');
  t.equal((await run({ info: level0((l) => (l.tcbStatus = 'Revoked')) })).tcb.status, 'Revoked', 'a Revoked TCB level is a status, rejected by appraisal');
  // a platform below the first level meets the second
  const second = await run({ info: level0((l) => (l.tcb.sgxtcbcomponents[0].svn = 99)) });
  t.equal(second.tcb.status, 'OutOfDate');
  t.match(check(second, 'tcb-info')?.detail, /TCB level of 2018-01-04T00:00:00Z is OutOfDate/);
  // TCB Info for another PCEID, TEE, or version
  await t.rejects(run({ info: (i) => (i.pceId = '0001') }), { code: 'COLLATERAL_INVALID', message: /PCEID 0001/ });
  await t.rejects(run({ info: (i) => (i.version = 2) }), { code: 'COLLATERAL_INVALID', message: /version 2 is not supported/ });
  const sgxInfo = await set({ info: (i) => (i.id = 'SGX') });
  const noTdx = await verifyWith({ ...sgxInfo }, 'phala_tdx.dat', 'tdx', now);
  t.equal(noTdx.tcb.status, 'Unknown', 'an SGX TCB Info does not apply to a TDX quote');
});

// The provider interface without quote facts (a caller's own query): TCB Info levels only.
async function legacyPki() {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const rootKeys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const signKeys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const notBefore = new Date('2020-01-01');
  const notAfter = new Date('2040-01-01');
  const root = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Test SGX Root CA', keys: rootKeys, signingAlgorithm: alg, notBefore, notAfter, extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] });
  const signer = await x509.X509CertificateGenerator.create({ serialNumber: '02', subject: 'CN=Test TCB Signing', issuer: root.subject, publicKey: signKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg, notBefore, notAfter });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', signKeys.privateKey));
  return { rootPem: root.toString('pem'), chainPem: `${signer.toString('pem')}\n${root.toString('pem')}`, key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }) };
}

function tcbInfoText(key: ReturnType<typeof createPrivateKey>, info: Record<string, unknown>): string {
  const raw = JSON.stringify(info);
  const sig = sign('sha256', Buffer.from(raw), { key, dsaEncoding: 'ieee-p1363' }).toString('hex');
  return `{"tcbInfo":${raw},"signature":"${sig}"}`;
}

const comps = (n: number) => Array.from({ length: 16 }, () => ({ svn: n }));

t.test('TCB Info alone (createIntelCollateralProvider with tcbInfos only)', async (t) => {
  const pki = await legacyPki();
  const quote = vector('tdx_v4.dat');
  const now = nowWithin(pemCerts(parseDcapQuote(quote).cert.pckChainPem));
  const seen: TcbQuery[] = [];
  await createEvidenceVerifier({ collateral: { tcbStatus: async (q) => (seen.push(q), undefined) } }).verify({ platform: 'tdx', quote }, { now });
  t.match(seen[0]!.svn, { pck_tcb: /^[0-9a-f]{32}$/, tee_tcb_svn: /^[0-9a-f]{32}$/, pce_svn: 11 }, 'query carries PCK TCB, TEE_TCB_SVN, PCESVN');
  t.match(seen[0]!.dcap, { tee: 'tdx', quoteVersion: 4, bodyType: 2, pckChainPem: /BEGIN CERTIFICATE/, qeReport: /^[0-9a-f]{768}$/, tdx: { teeTcbSvn: /^[0-9a-f]{32}$/, mrSignerSeam: /^[0-9a-f]{96}$/ } }, 'and the quote facts');
  t.same(seen[0]!.now, now);

  const tdxModule = { mrsigner: '00'.repeat(48), attributes: '00'.repeat(8), attributesMask: 'FF'.repeat(8) };
  const info = (nextUpdate: string, levels: unknown[]) => ({ id: 'TDX', version: 3, issueDate: '2021-01-01T00:00:00Z', nextUpdate, fmspc: '50806f000000', pceId: '0000', tcbType: 0, tdxModule, tcbLevels: levels });
  const levels = [
    { tcb: { sgxtcbcomponents: comps(255), pcesvn: 255, tdxtcbcomponents: comps(0) }, tcbStatus: 'UpToDate' },
    { tcb: { sgxtcbcomponents: comps(0), pcesvn: 11, tdxtcbcomponents: comps(0) }, tcbStatus: 'SWHardeningNeeded' },
  ];
  const good = { tcbInfoJson: tcbInfoText(pki.key, info('2099-01-01T00:00:00Z', levels)), issuerChainPem: pki.chainPem };
  const v = createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [good], rootCaPems: [pki.rootPem] }) });
  const c = await v.verify({ platform: 'tdx', quote }, { now });
  t.equal(c.tcb.status, 'SWHardeningNeeded', 'first level the platform meets');
  t.match(v.appraise(c, { acceptedTcbStatuses: ['UpToDate'] }).failures, [/SWHardeningNeeded/]);
  t.match(check(c, 'crl'), { result: 'not-checked' });
  t.match(check(c, 'qe-identity-collateral'), { result: 'not-checked' });
  t.equal(await createIntelCollateralProvider({ tcbInfos: [good], rootCaPems: [pki.rootPem] }).tcbStatus(seen[0]!), 'SWHardeningNeeded', 'tcbStatus() gives the same status');

  const below = { tcbInfoJson: tcbInfoText(pki.key, info('2099-01-01T00:00:00Z', [levels[0]])), issuerChainPem: pki.chainPem };
  await t.rejects(createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [below], rootCaPems: [pki.rootPem] }) }).verify({ platform: 'tdx', quote }, { now }), { code: 'TCB_NOT_SUPPORTED' }, 'no level met');

  const tampered = { ...good, tcbInfoJson: good.tcbInfoJson.replace('SWHardeningNeeded', 'UpToDate') };
  await t.rejects(createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [tampered], rootCaPems: [pki.rootPem] }) }).verify({ platform: 'tdx', quote }, { now }), { code: 'COLLATERAL_INVALID', message: /signature/ });
  const expired = { tcbInfoJson: tcbInfoText(pki.key, info('2021-01-02T00:00:00Z', levels)), issuerChainPem: pki.chainPem };
  await t.rejects(createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [expired], rootCaPems: [pki.rootPem] }) }).verify({ platform: 'tdx', quote }, { now }), { code: 'COLLATERAL_EXPIRED', message: /expired/ });
  // signed by a chain that does not end at the (pinned) Intel root
  await t.rejects(createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [good] }) }).verify({ platform: 'tdx', quote }, { now }), { code: 'COLLATERAL_INVALID', message: /chain/ });
  // other FMSPC: no collateral -> Unknown
  const other = { tcbInfoJson: tcbInfoText(pki.key, { ...info('2099-01-01T00:00:00Z', levels), fmspc: '00906ed50000' }), issuerChainPem: pki.chainPem };
  t.equal((await createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [other], rootCaPems: [pki.rootPem] }) }).verify({ platform: 'tdx', quote }, { now })).tcb.status, 'Unknown');
  t.equal(evaluateIntelCollateral({ tcbInfos: [other], rootCaPems: [pki.rootPem] }, seen[0]!), undefined, 'nothing applies: undefined');
  t.equal(rawJsonMember('{"a":1,"tcbInfo":{"x":"}{\\"","y":{}},"signature":"00"}', 'tcbInfo'), '{"x":"}{\\"","y":{}}');
});

t.test('CRL parsing: DER, PEM and hex give the same list; malformed input is COLLATERAL_INVALID', async (t) => {
  const der = vector('collateral/go-tdx-guest/pckcrl');
  const a = parseCrl(der);
  t.equal(a.issuerCn, 'Intel SGX PCK Platform CA');
  t.ok(a.revoked.size > 10, `${a.revoked.size} revoked PCK certificates`);
  t.equal(a.thisUpdate.toISOString(), '2023-06-08T07:27:52.000Z');
  const pem = `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
  t.same([...parseCrl(pem).revoked], [...a.revoked]);
  t.same([...parseCrl(der.toString('hex')).revoked], [...a.revoked]);
  t.throws(() => parseCrl(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])), { code: 'COLLATERAL_INVALID' });
  t.throws(() => parseCrl('not a crl'), { code: 'COLLATERAL_INVALID' });
  t.throws(() => parseCrl(der.subarray(0, 100)), { code: 'COLLATERAL_INVALID' });
});
