// Honest verdicts: appraisal rejects TCB status Unknown unless the policy accepts
// it explicitly, sim claims say NotApplicable, and every platform's verifier
// lists what it checked and what it did not (Claims.checks) for each real vector.
import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { appraise } from '../../platforms/core/appraisal.ts';
import { CheckList, checkWarnings, setCheck, tcbStatusCheck, trailingBytesCheck } from '../../platforms/core/checks.ts';
import { parseDcapQuote } from '../../platforms/core/dcap/quote.ts';
import { createAttester, createEvidenceVerifier } from '../../platforms/index.ts';
import type { Claims, Evidence, VerificationCheck } from '../../platforms/core/types.ts';
import { nowWithin, pemCerts, vector, vectorText } from './vectors.ts';

const base: Claims = {
  platform: 'tdx',
  measurements: { mr_td: 'aa'.repeat(48) },
  reportData: '00'.repeat(64),
  tcb: { status: 'Unknown' },
  debug: false,
  insecure: false,
  checks: [],
};

t.test('TCB status Unknown fails by default and passes only when accepted explicitly', async (t) => {
  const r = appraise(base, {});
  t.equal(r.ok, false, 'Unknown is rejected by default');
  t.equal(r.failures.length, 1);
  t.match(r.failures[0], /TCB status Unknown is not accepted/);
  t.match(r.failures[0], /allowUnknownTcb: true/, 'the failure names the policy flag');
  t.match(r.failures[0], /--allow-unknown-tcb/, 'and the CLI flag');
  t.same(appraise(base, { allowUnknownTcb: true }), { ok: true, failures: [] }, 'allowUnknownTcb accepts it');
  t.same(appraise(base, { acceptedTcbStatuses: ['UpToDate', 'Unknown'] }), { ok: true, failures: [] }, 'so does listing it');
  t.same(appraise(base, { acceptedTcbStatuses: ['UpToDate'], allowUnknownTcb: true }), { ok: true, failures: [] }, 'the flag adds Unknown to an explicit list');
  t.same(appraise(base, { acceptedTcbStatuses: ['UpToDate'] }).failures, ['TCB status Unknown is not accepted (accepted: UpToDate)']);
  t.equal(appraise(base, { allowUnknownTcb: false }).ok, false, 'false is the default');
  // the flag accepts Unknown only: it does not widen an explicit list to other statuses
  t.match(appraise({ ...base, tcb: { status: 'OutOfDate' } }, { acceptedTcbStatuses: ['UpToDate'], allowUnknownTcb: true }).failures, [/TCB status OutOfDate is not accepted/]);
  // statuses collateral established: any but Revoked by default
  t.same(appraise({ ...base, tcb: { status: 'OutOfDate' } }, {}), { ok: true, failures: [] });
  t.same(appraise({ ...base, tcb: { status: 'UpToDate' } }, {}), { ok: true, failures: [] });
  t.same(appraise({ ...base, tcb: { status: 'Revoked' } }, { allowUnknownTcb: true }).failures, ['TCB status is Revoked']);
});

t.test('NotApplicable: the sim platform has no TCB; only insecure claims may say so', async (t) => {
  const sim: Claims = { ...base, platform: 'sim', insecure: true, tcb: { status: 'NotApplicable' } };
  t.same(appraise(sim, { allowInsecure: true }), { ok: true, failures: [] }, 'sim passes with allowInsecure alone');
  t.match(appraise(sim, {}).failures, [/insecure/], 'and still needs allowInsecure');
  t.match(appraise({ ...base, tcb: { status: 'NotApplicable' } }, { allowUnknownTcb: true }).failures, [/NotApplicable is only valid for a platform without a TCB \(sim\), not tdx/]);
  t.match(appraise(sim, { allowInsecure: true, acceptedTcbStatuses: ['UpToDate'] }).failures, [/NotApplicable is not accepted/], 'an explicit list is explicit for sim too');

  const a = await createAttester('sim', { simMeasurements: { app: 'ab'.repeat(32) } });
  const claims = await createEvidenceVerifier({ trustedSimKeys: [a.simPublicKeyPem!] }).verify(await a.getEvidence(Buffer.alloc(64)));
  t.equal(claims.tcb.status, 'NotApplicable', 'sim claims carry NotApplicable, not Unknown');
  t.ok(appraise(claims, { allowInsecure: true }).ok, 'the sim demo policy needs no TCB flag');
});

type Expect = Array<[string, VerificationCheck['result'], RegExp?]>;
const DCAP_COMMON: Expect = [
  ['cert-chain', 'pass', /pinned Intel SGX Root CA/],
  ['crl', 'not-checked', /no CRLs/],
  ['qe-report-signature', 'pass'],
  ['qe-identity', 'pass', /not in debug mode/],
  ['qe-identity-collateral', 'not-checked'],
  ['attestation-key-binding', 'pass'],
  ['signature', 'pass', /attestation key/],
  ['tcb-status', 'not-checked', /no collateral: TCB status Unknown/],
];

function expectChecks(t: Test, name: string, checks: VerificationCheck[], want: Expect): void {
  t.same(checks.map((c) => c.check).sort(), want.map(([c]) => c).sort(), `${name}: exactly these checks`);
  for (const [check, result, detail] of want) {
    const got = checks.find((c) => c.check === check);
    t.equal(got?.result, result, `${name}: ${check} is ${result}`);
    if (detail) t.match(got?.detail, detail, `${name}: ${check} detail`);
    if (result !== 'pass') t.ok(got?.detail, `${name}: ${check} says why`);
  }
}

t.test('every real vector lists its checks', async (t) => {
  const v = createEvidenceVerifier({ hygonHrk: vector('hrk.cert'), csvAllowPekOnly: true, tpmTrustedAkPems: [tpmAkPem()] });
  for (const [file, platform, trailing] of [
    ['tdx_v4.dat', 'tdx', 39],
    ['tdx_v5.dat', 'tdx', 0],
    ['tr_tdx_quote_4.dat', 'tdx', 0],
    ['tr_tdx_quote_5.dat', 'tdx', 0],
    ['phala_tdx.dat', 'tdx', 70],
    ['phala_sgx.dat', 'sgx', 0],
    ['sgx_v3.dat', 'sgx', 0],
  ] as const) {
    const quote = vector(file);
    const c = await v.verify({ platform, quote }, { now: nowWithin(pemCerts(parseDcapQuote(quote).cert.pckChainPem)) });
    const tb: Expect[number] = trailing ? ['trailing-bytes', 'warn', new RegExp(`^${trailing} bytes after the signature data are not signed`)] : ['trailing-bytes', 'pass'];
    expectChecks(t, file, c.checks, [...DCAP_COMMON, tb, ...(platform === 'tdx' ? ([['tdx-module-identity', 'not-checked']] as Expect) : [])]);
  }
  for (const [report, vek, chain] of [
    ['snp_report.bin', 'vcek.der', 'milan_chain.pem'],
    ['test-report.bin', 't-vcek.der', 'milan_chain.pem'],
    ['turin.bin', 'turin-vcek.der', 'turin_chain.pem'],
  ]) {
    const [ask, ark] = pemCerts(vectorText(chain!));
    const now = nowWithin([new X509Certificate(vector(vek!)), ask!, ark!]);
    const c = await v.verify({ platform: 'sev-snp', quote: vector(report!), aux: { vcek: vector(vek!).toString('base64'), ask: ask!.toString(), ark: ark!.toString() } }, { now });
    expectChecks(t, report!, c.checks, [
      ['signature', 'pass', /VCEK/],
      ['cert-chain', 'pass', /SEV-VCEK <- SEV-(Milan|Turin) <- ARK-(Milan|Turin)/],
      ['crl', 'not-checked', /no AMD CRL/],
      ['tcb-binding', 'pass'],
      ['chip-id-binding', 'pass'],
      ['tcb-status', 'not-checked'],
      ['trailing-bytes', 'pass'],
    ]);
  }
  const full = await v.verify({ platform: 'csv', quote: vector('csv_report.cert'), aux: { hsk_cek: vector('hsk_cek.cert').toString('base64') } });
  expectChecks(t, 'csv_report.cert', full.checks, [
    ['signer-mac', 'pass'],
    ['signature', 'pass', /PEK .*HYGON-SSD-PEK/],
    ['cert-chain', 'pass', /HRK \(configured hygonHrk\)/],
    ['tcb-status', 'not-checked'],
    ['trailing-bytes', 'pass'],
  ]);
  const csvEvidence = JSON.parse(vectorText('csv_evidence.json')) as { attestation_report: { data: number[] } };
  const trustee = await v.verify({ platform: 'csv', quote: new Uint8Array(csvEvidence.attestation_report.data) });
  expectChecks(t, 'csv_evidence.json', trustee.checks, [
    ['signer-mac', 'not-checked', /restored/],
    ['signature', 'pass'],
    ['cert-chain', 'not-checked', /KPA64911240507 .*csvAllowPekOnly/],
    ['tcb-status', 'not-checked'],
    ['trailing-bytes', 'warn', /^1548 bytes after the signer block are not signed \(all zero\)/],
  ]);
  const tpm = await v.verify(tpmEvidence());
  expectChecks(t, 'tpm_evidence.json', tpm.checks, [
    ['signature', 'pass', /RSASSA-PKCS1-v1_5, sha256/],
    ['cert-chain', 'not-checked', /tpmTrustedAkPems/],
    ['pcr-digest', 'pass', /24 PCRs/],
    ['tcb-status', 'not-checked'],
    ['trailing-bytes', 'pass'],
  ]);
  const a = await createAttester('sim', {});
  const sim = await createEvidenceVerifier({ trustedSimKeys: [a.simPublicKeyPem!] }).verify(await a.getEvidence(Buffer.alloc(1)));
  expectChecks(t, 'sim', sim.checks, [
    ['signature', 'pass'],
    ['hardware-root-of-trust', 'warn', /no hardware root of trust/],
    ['tcb-status', 'not-checked', /NotApplicable/],
    ['trailing-bytes', 'pass'],
  ]);
});

t.test('tcb-status follows the collateral provider', async (t) => {
  const quote = vector('tdx_v4.dat');
  const now = nowWithin(pemCerts(parseDcapQuote(quote).cert.pckChainPem));
  const check = async (status: 'UpToDate' | 'OutOfDate' | undefined) => (await createEvidenceVerifier({ collateral: { tcbStatus: async () => status } }).verify({ platform: 'tdx', quote }, { now })).checks.find((c) => c.check === 'tcb-status');
  t.same(await check('UpToDate'), { check: 'tcb-status', result: 'pass', detail: 'TCB status UpToDate (from collateral)' });
  t.same(await check('OutOfDate'), { check: 'tcb-status', result: 'warn', detail: 'TCB status OutOfDate (from collateral)' });
  t.same(await check(undefined), { check: 'tcb-status', result: 'not-checked', detail: 'the collateral provider has no collateral for this platform: TCB status Unknown' });
});

t.test('the check helpers: a not-checked entry becomes a pass in place', async (t) => {
  const l = new CheckList().pass('signature').notChecked('crl', 'no CRLs supplied').add(tcbStatusCheck('Unknown', false));
  l.pass('crl', 'PCK CRL from collateral: not revoked');
  t.same(l.toArray().map((c) => [c.check, c.result]), [['signature', 'pass'], ['crl', 'pass'], ['tcb-status', 'not-checked']], 'replaced where it stood, not appended');
  t.equal(l.get('crl')?.detail, 'PCK CRL from collateral: not revoked');
  const arr = l.toArray();
  setCheck(arr, { check: 'tcb-status', result: 'pass', detail: 'UpToDate' });
  t.same(arr[2], { check: 'tcb-status', result: 'pass', detail: 'UpToDate' });
  setCheck(arr, { check: 'extra', result: 'warn', detail: 'x' });
  t.equal(arr.length, 4, 'a new name is appended');
  t.equal(l.toArray().length, 3, 'toArray is a copy');
  t.same(checkWarnings(arr), ['extra: x']);
  t.same(checkWarnings([{ check: 'crl', result: 'not-checked', detail: 'no CRLs supplied' }]), ['crl not checked: no CRLs supplied']);
  t.same(trailingBytesCheck(0, 'x'), { check: 'trailing-bytes', result: 'pass', detail: 'nothing after x' });
  t.same(trailingBytesCheck(2, 'x', new Uint8Array([1, 0])), { check: 'trailing-bytes', result: 'warn', detail: '2 bytes after x are not signed; ignored' });
});

function tpmVector() {
  return JSON.parse(vectorText('tpm_evidence.json')) as { ak_public: string; tpm_quote: { message: string; signature: string; pcrs: string[] } };
}
function tpmAkPem(): string {
  return `-----BEGIN PUBLIC KEY-----\n${tpmVector().ak_public}\n-----END PUBLIC KEY-----\n`;
}
function tpmEvidence(): Evidence {
  const d = tpmVector();
  return { platform: 'tpm', quote: new Uint8Array(Buffer.from(d.tpm_quote.message, 'base64')), aux: { signature: d.tpm_quote.signature, pcrs: JSON.stringify(d.tpm_quote.pcrs), ak_public: d.ak_public } };
}
