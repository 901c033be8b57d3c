import t from 'tap';
import { createHash } from 'node:crypto';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { sm2Verify } from '../../platforms/plugins/csv/sm2.ts';
import { parseCsvCert } from '../../platforms/plugins/csv/certs.ts';
import { parseCsvReport } from '../../platforms/plugins/csv/report.ts';
import { flip, vector } from './vectors.ts';

const csvEvidence = JSON.parse(vector('csv_evidence.json').toString('utf8')) as { attestation_report: { data: number[] }; serial_number: number[] };
const trusteeReport = new Uint8Array(csvEvidence.attestation_report.data);
const fullReport = new Uint8Array(vector('csv_report.cert'));
const hskCek = vector('hsk_cek.cert').toString('base64');
const hrk = vector('hrk.cert');

t.test('CSV v1 with the full HRK -> HSK -> CEK -> PEK -> report chain (anonce de-obfuscated)', async (t) => {
  const v = createEvidenceVerifier({ hygonHrk: hrk });
  const c = await v.verify({ platform: 'csv', quote: fullReport, aux: { hsk_cek: hskCek } });
  t.equal(c.extra?.chain, 'hrk');
  t.equal(c.extra?.chip_id, 'NZA9T14052605');
  t.equal(Buffer.from(c.reportData, 'hex').subarray(0, 9).toString(), 'user data', 'report data de-XOR-ed with anonce');
  t.equal(c.measurements.mr_boot, c.measurements.measure);
  t.equal(c.debug, false);
  // HRK carried in the evidence is accepted only because it matches the pinned key
  t.ok(await createEvidenceVerifier().verify({ platform: 'csv', quote: fullReport, aux: { hsk_cek: hskCek, hrk: hrk.toString('base64') } }));
  // flipped byte in the signed region (report data, stored XOR-ed)
  await t.rejects(v.verify({ platform: 'csv', quote: flip(fullReport, 70), aux: { hsk_cek: hskCek } }), { code: 'SIGNATURE_INVALID' });
  // flipped byte in the PEK certificate (MAC over the signer block fails first)
  await t.rejects(v.verify({ platform: 'csv', quote: flip(fullReport, 0x150 + 40), aux: { hsk_cek: hskCek } }), { code: 'SIGNATURE_INVALID' });
  // wrong trust anchor: an HRK that is not the pinned one
  const fakeHrk = Buffer.from(hrk);
  fakeHrk[0x50]! ^= 1;
  await t.rejects(createEvidenceVerifier().verify({ platform: 'csv', quote: fullReport, aux: { hsk_cek: hskCek, hrk: fakeHrk.toString('base64') } }), { code: 'UNTRUSTED_ROOT' });
  await t.rejects(createEvidenceVerifier({ hygonHrk: fakeHrk }).verify({ platform: 'csv', quote: fullReport, aux: { hsk_cek: hskCek } }), { code: 'CHAIN_INVALID' });
  // CEK of another chip
  const badCek = vector('hsk_cek.cert');
  badCek[832 + 30]! ^= 1;
  await t.rejects(v.verify({ platform: 'csv', quote: fullReport, aux: { hsk_cek: badCek.toString('base64') } }), { code: 'CHAIN_INVALID' });
  t.match(v.appraise(c, { reportData: 'ff', allowUnknownTcb: true }).failures, [/report data/]);
  await t.rejects(v.verify({ platform: 'csv', quote: fullReport, aux: { report_version: '3' } }), { code: 'UNSUPPORTED_VERSION' });
});

t.test('CSV v1 evidence from trustee (restored signer block): PEK -> report; chain needs its chip CEK', async (t) => {
  await t.rejects(createEvidenceVerifier().verify({ platform: 'csv', quote: trusteeReport }), { code: 'TRUST_ANCHOR_MISSING', message: /KPA64911240507/ });
  const v = createEvidenceVerifier({ csvAllowPekOnly: true });
  const c = await v.verify({ platform: 'csv', quote: trusteeReport });
  t.equal(c.extra?.chain, 'pek-only');
  t.equal(c.extra?.chip_id, Buffer.from(csvEvidence.serial_number).toString('latin1').replace(/\0+$/, ''));
  await t.rejects(v.verify({ platform: 'csv', quote: flip(trusteeReport, 150) }), { code: 'SIGNATURE_INVALID' }, 'flipped measure byte');
  // the HSK/CEK of another chip do not certify this PEK
  await t.rejects(createEvidenceVerifier({ hygonHrk: hrk }).verify({ platform: 'csv', quote: trusteeReport, aux: { hsk_cek: hskCek } }), { code: 'CHAIN_INVALID' });
});

t.test('SM2/SM3 verifier: user id is part of the signed digest', async (t) => {
  // The Hygon firmware's own signature (real hardware) is the known answer.
  const r = parseCsvReport(fullReport, 1);
  const pek = parseCsvCert(r.pekCert, 'PEK');
  t.equal(pek.uid.toString(), 'HYGON-SSD-PEK');
  t.ok(sm2Verify(pek.key, pek.uid, r.signed, r.r, r.s));
  t.notOk(sm2Verify(pek.key, Buffer.from('1234567812345678'), r.signed, r.r, r.s), 'default user id does not verify');
  t.notOk(sm2Verify(pek.key, pek.uid, r.signed.subarray(1), r.r, r.s));
  t.notOk(sm2Verify({ x: pek.key.x, y: Buffer.from(pek.key.y).fill(1) }, pek.uid, r.signed, r.r, r.s), 'point off the curve');
  t.equal(createHash('sm3').update('abc').digest('hex'), '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0', 'SM3 known answer');
});

t.test('CSV v2 layout: no XOR, RTMRs, signature over [0, 0x400), signer at 0x490', async (t) => {
  const b = Buffer.alloc(4096);
  Buffer.alloc(64, 7).copy(b, 64); // report data
  b.writeUInt32LE(1, 0xb0); // policy NODBG
  b.writeUInt32LE(4, 0xb8); // SM2
  b.writeUInt32LE(1234, 0xbc); // build
  for (let i = 0; i < 5; i++) Buffer.alloc(32, 0x10 + i).copy(b, 0xd0 + 32 * i);
  b.writeUInt32LE(1, 0x490); // PEK version, plain
  Buffer.from('CHIPV2').copy(b, 0x490 + 2084);
  const r = parseCsvReport(b, 2);
  t.equal(r.version, 2);
  t.same(r.reportData, Buffer.alloc(64, 7));
  t.equal(r.build, 1234);
  t.same(r.rtmr!.map((x) => x[0]), [0x10, 0x11, 0x12, 0x13, 0x14]);
  t.equal(r.signed.length, 0x400);
  t.equal(r.chipSn, 'CHIPV2');
  t.equal(r.pekCert.readUInt32LE(0), 1);
  const parsed = createEvidenceVerifier().parse({ platform: 'csv', quote: b, aux: { report_version: '2' } }) as { version: number };
  t.equal(parsed.version, 2, 'parse is pure and needs no trust anchors');
  await t.rejects(createEvidenceVerifier({ csvAllowPekOnly: true }).verify({ platform: 'csv', quote: b, aux: { report_version: '2' } }), { code: 'EVIDENCE_MALFORMED' }, 'zero PEK key is not on the curve / not a PEK');
});
