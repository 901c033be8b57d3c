import t from 'tap';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { parseDcapQuote } from '../../platforms/core/dcap/quote.ts';
import { checkQeIdentity } from '../../platforms/core/dcap/verify.ts';
import type { PlatformName } from '../../platforms/core/types.ts';
import { x509 } from '../../foundation/x509.ts';
import { flip, nowExpired, nowWithin, pemCerts, vector, vectorText } from './vectors.ts';

const FILES: Array<[string, PlatformName, number]> = [
  ['tdx_v4.dat', 'tdx', 4],
  ['tdx_v5.dat', 'tdx', 5],
  ['tr_tdx_quote_4.dat', 'tdx', 4],
  ['tr_tdx_quote_5.dat', 'tdx', 5],
  ['phala_tdx.dat', 'tdx', 4],
  ['phala_sgx.dat', 'sgx', 3],
  ['sgx_v3.dat', 'sgx', 3],
];

async function otherRootPem(): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const c = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Not Intel Root', keys, signingAlgorithm: alg, notBefore: new Date('2010-01-01'), notAfter: new Date('2060-01-01'), extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] });
  return c.toString('pem');
}

t.test('every DCAP vector verifies; tampering fails with a precise reason', async (t) => {
  const v = createEvidenceVerifier();
  const wrongRoot = createEvidenceVerifier({ intelRootCaPems: [await otherRootPem()] });
  const explicitRoot = createEvidenceVerifier({ intelRootCaPems: [vectorText('intel_root.pem')] });
  for (const [file, platform, version] of FILES) {
    const quote = new Uint8Array(vector(file));
    const q = parseDcapQuote(quote);
    t.equal(q.version, version, `${file} version`);
    const certs = pemCerts(q.cert.pckChainPem);
    const now = nowWithin(certs);
    const c = await v.verify({ platform, quote }, { now });
    t.equal(c.platform, platform);
    t.equal(c.insecure, false);
    t.equal(c.tcb.status, 'Unknown', `${file}: no collateral -> Unknown, never UpToDate`);
    t.equal(c.reportData.length, 128);
    if (platform === 'tdx') {
      t.ok(c.measurements.mr_td && c.measurements.mr_td === c.measurements.mr_boot && c.measurements.mr_plat === c.measurements.mr_seam && c.measurements.mr_ta === c.measurements.rtmr3, `${file}: Trustflow aliases`);
      t.equal(c.measurements.mr_td!.length, 96);
    } else {
      t.equal(c.measurements.mr_enclave!.length, 64);
      t.equal(c.measurements.mr_signer!.length, 64);
    }
    t.ok((await explicitRoot.verify({ platform, quote }, { now })).measurements, `${file}: explicit Intel root`);
    // one flipped byte in the signed region (body: report data; header: QE vendor id)
    const rdOffset = q.signed.length - 10;
    await t.rejects(v.verify({ platform, quote: flip(quote, rdOffset) }, { now }), { code: 'SIGNATURE_INVALID' }, `${file}: flipped body byte`);
    await t.rejects(v.verify({ platform, quote: flip(quote, 20) }, { now }), { code: 'SIGNATURE_INVALID' }, `${file}: flipped header byte`);
    // a flipped byte in the QE report (signed by the PCK)
    const qeAt = q.signed.length + 4 + 128 + (q.version === 3 ? 0 : 6) + 100;
    await t.rejects(v.verify({ platform, quote: flip(quote, qeAt) }, { now }), { code: 'SIGNATURE_INVALID' }, `${file}: flipped QE report byte`);
    await t.rejects(wrongRoot.verify({ platform, quote }, { now }), { code: 'UNTRUSTED_ROOT' }, `${file}: wrong trust anchor`);
    await t.rejects(v.verify({ platform, quote }, { now: nowExpired(certs) }), { code: 'CERT_EXPIRED' }, `${file}: expired chain`);
    const appraisal = v.appraise(c, { reportData: 'ff'.repeat(64), allowDebug: true, allowUnknownTcb: true });
    t.match(appraisal.failures, [/report data: expected/], `${file}: mismatched report_data`);
    t.ok(v.appraise(c, { reportData: c.reportData, allowDebug: true, allowUnknownTcb: true }).ok);
  }
  await t.rejects(v.verify({ platform: 'sgx', quote: vector('tdx_v4.dat') }, { now: new Date() }), { code: 'EVIDENCE_MALFORMED' });
  await t.rejects(v.verify({ platform: 'tdx', quote: vector('tdx_v4.dat').subarray(0, 700) }), { code: 'EVIDENCE_MALFORMED' });
  const v6 = Buffer.from(vector('tdx_v4.dat'));
  v6.writeUInt16LE(6, 0);
  await t.rejects(v.verify({ platform: 'tdx', quote: v6 }), { code: 'UNSUPPORTED_VERSION' });
});

t.test('collateral provider decides TCB status', async (t) => {
  const quote = new Uint8Array(vector('tdx_v4.dat'));
  const now = nowWithin(pemCerts(parseDcapQuote(quote).cert.pckChainPem));
  const seen: unknown[] = [];
  const v = createEvidenceVerifier({ collateral: { tcbStatus: async (q) => (seen.push(q), 'OutOfDate') } });
  const c = await v.verify({ platform: 'tdx', quote }, { now });
  t.equal(c.tcb.status, 'OutOfDate');
  t.match(seen[0], { platform: 'tdx', platformId: '50806f000000' });
  t.match(v.appraise(c, { acceptedTcbStatuses: ['UpToDate'] }).failures, [/OutOfDate/]);
  const none = createEvidenceVerifier({ collateral: { tcbStatus: async () => undefined } });
  t.equal((await none.verify({ platform: 'tdx', quote }, { now })).tcb.status, 'Unknown');
});

t.test('QE identity: only Intel\'s (TD)QE, not debug', async (t) => {
  const sgxQe = Buffer.from(parseDcapQuote(vector('sgx_v3.dat')).cert.qeReport);
  const tdQe = Buffer.from(parseDcapQuote(vector('tdx_v4.dat')).cert.qeReport);
  t.equal(checkQeIdentity(sgxQe, 0), 8);
  t.equal(checkQeIdentity(tdQe, 0x81), 4);
  t.throws(() => checkQeIdentity(sgxQe, 0x81), { code: 'BINDING_INVALID' }, 'SGX QE for a TDX quote');
  const other = Buffer.from(tdQe);
  other[130]! ^= 1; // MRSIGNER
  t.throws(() => checkQeIdentity(other, 0x81), { code: 'BINDING_INVALID', message: /not from Intel/ });
  const dbg = Buffer.from(tdQe);
  dbg[48]! |= 2;
  t.throws(() => checkQeIdentity(dbg, 0x81), { code: 'BINDING_INVALID', message: /debug/ });
});
