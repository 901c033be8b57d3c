import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { createTpmAttester } from '../../platforms/plugins/tpm/attester.ts';
import type { Evidence } from '../../platforms/core/types.ts';
import { createFakeTpm } from './fake-tpm.ts';
import { flip, vector } from './vectors.ts';

const d = JSON.parse(vector('tpm_evidence.json').toString('utf8')) as { ak_public: string; tpm_quote: { message: string; signature: string; pcrs: string[] } };
const akPem = `-----BEGIN PUBLIC KEY-----\n${d.ak_public}\n-----END PUBLIC KEY-----\n`;
const ev: Evidence = { platform: 'tpm', quote: new Uint8Array(Buffer.from(d.tpm_quote.message, 'base64')), aux: { signature: d.tpm_quote.signature, pcrs: JSON.stringify(d.tpm_quote.pcrs), ak_public: d.ak_public } };

t.test('TPM 2.0 quote vector verifies; tampering fails precisely', async (t) => {
  const v = createEvidenceVerifier({ tpmTrustedAkPems: [akPem] });
  const c = await v.verify(ev);
  t.equal(c.platform, 'tpm');
  t.equal(c.measurements.pcr17, 'f'.repeat(64));
  t.equal(Object.keys(c.measurements).length, 24);
  t.equal(c.extra?.extra_data_length, 64);
  t.equal(c.tcb.status, 'Unknown');
  await t.rejects(v.verify({ ...ev, quote: flip(ev.quote, 60) }), { code: 'SIGNATURE_INVALID' }, 'flipped extraData byte');
  const pcrs = [...d.tpm_quote.pcrs];
  pcrs[17] = '0'.repeat(64);
  await t.rejects(v.verify({ ...ev, aux: { ...ev.aux!, pcrs: JSON.stringify(pcrs) } }), { code: 'BINDING_INVALID' }, 'PCR values not behind pcrDigest');
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  await t.rejects(createEvidenceVerifier({ tpmTrustedAkPems: [other] }).verify(ev), { code: 'UNTRUSTED_ROOT' }, 'wrong trust anchor (AK)');
  const { ak_public: _, ...noAk } = ev.aux!;
  await t.rejects(createEvidenceVerifier({ tpmTrustedAkPems: [other] }).verify({ ...ev, aux: noAk }), { code: 'SIGNATURE_INVALID' });
  await t.rejects(createEvidenceVerifier().verify(ev), { code: 'TRUST_ANCHOR_MISSING' });
  t.match(v.appraise(c, { reportData: '00', allowUnknownTcb: true }).failures, [/report data/]);
  t.ok(v.appraise(c, { reportData: c.reportData, measurements: { pcr17: 'F'.repeat(64) }, allowUnknownTcb: true }).ok);
});

t.test('TPM attester: Quote, PCR_Read (8 per call), ReadPublic; its evidence verifies', async (t) => {
  const tpm = createFakeTpm();
  const a = createTpmAttester({ transport: tpm, pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
  t.equal(await a.detect(), true);
  const rd = Buffer.alloc(64, 0xab);
  const e = await a.getEvidence(rd);
  t.same(tpm.commands, [0x158, 0x17e, 0x17e, 0x173]);
  const akPemFake = tpm.akPublic.export({ type: 'spki', format: 'pem' }) as string;
  const c = await createEvidenceVerifier({ tpmTrustedAkPems: [akPemFake] }).verify(e);
  t.equal(c.reportData, rd.toString('hex'));
  t.equal(c.measurements.pcr10, tpm.pcrs.get(10)!.toString('hex'));
  t.equal(Object.keys(c.measurements).length, 11);
  await t.rejects(createTpmAttester({ transport: tpm, akHandle: 0x81000001 }).getEvidence(rd), { code: 'DEVICE_ERROR' });
  t.throws(() => createTpmAttester({ pcrs: [24] }), { code: 'INVALID_INPUT' });
});
