import t from 'tap';
import { createPrivateKey, sign } from 'node:crypto';
import { x509 } from '../../foundation/x509.ts';
import { createIntelCollateralProvider, rawJsonMember } from '../../platforms/core/dcap/intel-collateral.ts';
import { parseDcapQuote } from '../../platforms/core/dcap/quote.ts';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import type { TcbQuery } from '../../platforms/core/collateral.ts';
import { nowWithin, pemCerts, vector } from './vectors.ts';

// A stand-in for Intel's TCB signing PKI (Intel's private keys are not ours).
async function testPki() {
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

t.test('Intel TCB Info collateral decides the TDX TCB status', async (t) => {
  const pki = await testPki();
  const quote = vector('tdx_v4.dat');
  const now = nowWithin(pemCerts(parseDcapQuote(quote).cert.pckChainPem));
  const seen: TcbQuery[] = [];
  await createEvidenceVerifier({ collateral: { tcbStatus: async (q) => (seen.push(q), undefined) } }).verify({ platform: 'tdx', quote }, { now });
  t.match(seen[0]!.svn, { pck_tcb: /^[0-9a-f]{32}$/, tee_tcb_svn: /^[0-9a-f]{32}$/, pce_svn: 11 }, 'query carries PCK TCB, TEE_TCB_SVN, PCESVN');
  t.same(seen[0]!.now, now);

  const info = (nextUpdate: string, levels: unknown[]) => ({ id: 'TDX', version: 3, issueDate: '2024-01-01T00:00:00Z', nextUpdate, fmspc: '50806f000000', tcbLevels: levels });
  const levels = [
    { tcb: { sgxtcbcomponents: comps(255), pcesvn: 255, tdxtcbcomponents: comps(0) }, tcbStatus: 'UpToDate' },
    { tcb: { sgxtcbcomponents: comps(0), pcesvn: 11, tdxtcbcomponents: comps(0) }, tcbStatus: 'SWHardeningNeeded' },
  ];
  const good = { tcbInfoJson: tcbInfoText(pki.key, info('2099-01-01T00:00:00Z', levels)), issuerChainPem: pki.chainPem };
  const v = createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [good], rootCaPems: [pki.rootPem] }) });
  const c = await v.verify({ platform: 'tdx', quote }, { now });
  t.equal(c.tcb.status, 'SWHardeningNeeded', 'first level the platform meets');
  t.match(v.appraise(c, { acceptedTcbStatuses: ['UpToDate'] }).failures, [/SWHardeningNeeded/]);

  const below = { tcbInfoJson: tcbInfoText(pki.key, info('2099-01-01T00:00:00Z', [levels[0]])), issuerChainPem: pki.chainPem };
  t.equal((await createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [below], rootCaPems: [pki.rootPem] }) }).verify({ platform: 'tdx', quote }, { now })).tcb.status, 'OutOfDate');

  const tampered = { ...good, tcbInfoJson: good.tcbInfoJson.replace('SWHardeningNeeded', 'UpToDate') };
  await t.rejects(createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [tampered], rootCaPems: [pki.rootPem] }) }).verify({ platform: 'tdx', quote }, { now }), { code: 'COLLATERAL_INVALID', message: /signature/ });
  const expired = { tcbInfoJson: tcbInfoText(pki.key, info('2021-01-01T00:00:00Z', levels)), issuerChainPem: pki.chainPem };
  await t.rejects(createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [expired], rootCaPems: [pki.rootPem] }) }).verify({ platform: 'tdx', quote }, { now }), { code: 'COLLATERAL_INVALID', message: /expired/ });
  // signed by a chain that does not end at the (pinned) Intel root
  await t.rejects(createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [good] }) }).verify({ platform: 'tdx', quote }, { now }), { code: 'COLLATERAL_INVALID', message: /chain/ });
  // other FMSPC: no collateral -> Unknown
  const other = { tcbInfoJson: tcbInfoText(pki.key, { ...info('2099-01-01T00:00:00Z', levels), fmspc: '00906ed50000' }), issuerChainPem: pki.chainPem };
  t.equal((await createEvidenceVerifier({ collateral: createIntelCollateralProvider({ tcbInfos: [other], rootCaPems: [pki.rootPem] }) }).verify({ platform: 'tdx', quote }, { now })).tcb.status, 'Unknown');
  t.equal(rawJsonMember('{"a":1,"tcbInfo":{"x":"}{\\"","y":{}},"signature":"00"}', 'tcbInfo'), '{"x":"}{\\"","y":{}}');
});
