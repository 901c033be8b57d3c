import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { buildCertTable, parseCertTable } from '../../platforms/plugins/sev-snp/cert-table.ts';
import { parseSnpReport } from '../../platforms/plugins/sev-snp/report.ts';
import { verifySnpReportSignature } from '../../platforms/plugins/sev-snp/verifier.ts';
import type { Evidence } from '../../platforms/core/types.ts';
import { flip, nowExpired, nowWithin, pemCerts, vector, vectorText } from './vectors.ts';

const CASES = [
  { report: 'snp_report.bin', vek: 'vcek.der', chain: 'milan_chain.pem', version: 2, product: 'Milan', debug: true },
  { report: 'test-report.bin', vek: 't-vcek.der', chain: 'milan_chain.pem', version: 2, product: 'Milan', debug: false },
  { report: 'turin.bin', vek: 'turin-vcek.der', chain: 'turin_chain.pem', version: 5, product: 'Turin', debug: false },
];

t.test('SEV-SNP VCEK vectors (Milan v2, Turin v5) verify; tampering fails precisely', async (t) => {
  const v = createEvidenceVerifier();
  for (const c of CASES) {
    const [ask, ark] = pemCerts(vectorText(c.chain));
    const vek = new X509Certificate(vector(c.vek));
    const certs = [vek, ask!, ark!];
    const now = nowWithin(certs);
    // the evidence as configfs-tsm delivers it: report + certificate table
    const table = buildCertTable({ vcek: vector(c.vek), ask: ask!.raw, ark: ark!.raw });
    const ev: Evidence = { platform: 'sev-snp', quote: new Uint8Array(vector(c.report)), aux: { cert_table: table.toString('base64') } };
    const claims = await v.verify(ev, { now });
    t.equal(claims.extra?.report_version, c.version);
    t.equal(claims.extra?.product, c.product);
    t.equal(claims.debug, c.debug, `${c.report}: debug from POLICY bit 19`);
    t.equal(claims.measurements.measurement!.length, 96);
    t.equal(claims.tcb.status, 'Unknown');
    // aux as separate entries works too
    t.ok(await v.verify({ ...ev, aux: { vcek: vector(c.vek).toString('base64'), ask: ask!.toString(), ark: ark!.toString() } }, { now }));
    await t.rejects(v.verify({ ...ev, quote: flip(ev.quote, 0x90) }, { now }), { code: 'SIGNATURE_INVALID' }, `${c.report}: flipped measurement byte`);
    await t.rejects(v.verify({ ...ev, quote: flip(ev.quote, 0x50) }, { now }), { code: 'SIGNATURE_INVALID' }, `${c.report}: flipped report_data byte`);
    await t.rejects(v.verify(ev, { now: nowExpired(certs) }), { code: 'CERT_EXPIRED' }, `${c.report}: expired chain`);
    const otherArk = createEvidenceVerifier();
    const wrong = c.chain === 'milan_chain.pem' ? 'turin_chain.pem' : 'milan_chain.pem';
    const [, wrongArk] = pemCerts(vectorText(wrong));
    await t.rejects(otherArk.verify({ ...ev, aux: { vcek: vector(c.vek).toString('base64'), ask: ask!.toString(), ark: wrongArk!.toString() } }, { now }), { code: 'CHAIN_INVALID' }, `${c.report}: ASK not signed by the given ARK`);
    t.match(v.appraise(claims, { reportData: '00'.repeat(64), allowDebug: true, allowUnknownTcb: true }).failures, [/report data/], `${c.report}: mismatched report_data`);
  }
});

t.test('SEV-SNP: ARK must be pinned; VLEK report v3', async (t) => {
  const [ask, ark] = pemCerts(vectorText('milan_chain.pem'));
  const vek = new X509Certificate(vector('vcek.der'));
  const now = nowWithin([vek, ask!, ark!]);
  const ev: Evidence = { platform: 'sev-snp', quote: new Uint8Array(vector('snp_report.bin')), aux: { vcek: vector('vcek.der').toString('base64'), ask: ask!.toString(), ark: ark!.toString() } };
  // Without the ARK in the evidence the pinned, bundled ARK-Milan completes the chain
  // (an ARK in the evidence that is not pinned: test/platforms/amd-roots.test.ts).
  t.ok(await createEvidenceVerifier().verify({ ...ev, aux: { vcek: ev.aux!.vcek!, ask: ask!.toString() } }, { now }));
  // VLEK (report v3, signer = VLEK): the report signature verifies with the VLEK.
  const vr = parseSnpReport(vector('test-vlek-report.bin'));
  t.equal(vr.version, 3);
  t.equal(vr.signingKey, 'vlek');
  const vlek = new X509Certificate(vector('t-vlek.der'));
  t.ok(verifySnpReportSignature(vr, vlek.publicKey), 'VLEK signs the v3 report');
  t.notOk(verifySnpReportSignature(parseSnpReport(flip(vector('test-vlek-report.bin'), 0x90)), vlek.publicKey));
  // Its issuer (ASVK "SEV-VLEK-Milan") is bundled: the chain VLEK -> ASVK -> ARK completes.
  t.match((await createEvidenceVerifier().verify({ platform: 'sev-snp', quote: vector('test-vlek-report.bin'), aux: { vlek: vector('t-vlek.der').toString('base64'), ark: ark!.toString() } }, { now: nowWithin([vlek]) })).extra, { signing_key: 'vlek', product: 'Milan' });
  // A VCEK given for a VLEK-signed report is not used.
  await t.rejects(createEvidenceVerifier().verify({ platform: 'sev-snp', quote: vector('test-vlek-report.bin'), aux: { vcek: ev.aux!.vcek! } }), { code: 'EVIDENCE_MALFORMED' });
  // VCEK from a provider (KDS cache) when the evidence has no cert table
  const asked: unknown[] = [];
  const withProvider = createEvidenceVerifier({ amdIntermediatePems: [ask!.toString()], amdArkPems: [ark!.toString()], snpVcekProvider: async (q) => (asked.push(q), vector('vcek.der')) });
  const pc = await withProvider.verify({ platform: 'sev-snp', quote: vector('snp_report.bin') }, { now });
  t.equal(pc.extra?.signing_key, 'vcek');
  t.match(asked[0], { chipId: /^3ac3fe21/, reportedTcb: { bootloader: 2, tee: 0, snp: 5, microcode: 68 } });
  await t.rejects(createEvidenceVerifier({ snpVcekProvider: async () => vector('t-vcek.der') }).verify({ platform: 'sev-snp', quote: vector('snp_report.bin') }, { now }), { code: 'SIGNATURE_INVALID' }, 'the VCEK of another chip');
  t.throws(() => parseCertTable(Buffer.alloc(10)), { code: 'EVIDENCE_MALFORMED' });
  t.throws(() => parseSnpReport(Buffer.alloc(100)), { code: 'EVIDENCE_MALFORMED' });
});
