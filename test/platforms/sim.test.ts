import t from 'tap';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAttester, createEvidenceVerifier, decodeEvidence, encodeEvidence, PlatformError } from '../../platforms/index.ts';
import { loadOrCreateSimKey, SIM_KEY_FILE } from '../../platforms/plugins/sim/signing-key.ts';

const MR = 'ab'.repeat(32);

t.test('sim: key file 0600 created once, quote verifies, claims are insecure', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'sim-')), 'keys');
  const a = await createAttester('sim', { simKeyDir: dir, simMeasurements: { mr_enclave: MR, mr_signer: 'CD'.repeat(32) } });
  t.equal(statSync(join(dir, SIM_KEY_FILE)).mode & 0o777, 0o600);
  t.equal(loadOrCreateSimKey(dir).publicKeyPem, a.simPublicKeyPem, 'same key on reload');
  const rd = Buffer.alloc(64, 7);
  const ev = await a.getEvidence(rd);
  const wire = JSON.parse(JSON.stringify(encodeEvidence(ev)));
  const v = createEvidenceVerifier({ trustedSimKeys: [a.simPublicKeyPem!] });
  const claims = await v.verify(decodeEvidence(wire));
  t.equal(claims.platform, 'sim');
  t.equal(claims.insecure, true);
  t.equal(claims.debug, false);
  t.equal(claims.reportData, rd.toString('hex'));
  t.same(claims.measurements, { mr_enclave: MR, mr_signer: 'cd'.repeat(32) });
  t.same(v.appraise(claims, { measurements: { mr_enclave: MR }, reportData: rd.toString('hex') }).ok, false, 'insecure rejected by default');
  const ok = v.appraise(claims, { measurements: { mr_enclave: MR }, reportData: rd.toString('hex'), allowInsecure: true });
  t.same(ok, { ok: true, failures: [] });
});

t.test('sim: flipped byte, untrusted key, missing anchors, short report data', async (t) => {
  const a = await createAttester('sim', { simMeasurements: { mr_boot: MR } });
  const ev = await a.getEvidence(Buffer.from('hello'));
  const v = createEvidenceVerifier({ trustedSimKeys: [a.simPublicKeyPem!] });
  const claims = await v.verify(ev);
  t.equal(claims.reportData, Buffer.from('hello').toString('hex').padEnd(128, '0'));
  const flipped = Buffer.from(ev.quote);
  flipped[60]! ^= 1;
  await t.rejects(v.verify({ ...ev, quote: flipped }), { code: 'SIGNATURE_INVALID' });
  const other = await createAttester('sim', {});
  await t.rejects(createEvidenceVerifier({ trustedSimKeys: [other.simPublicKeyPem!] }).verify(ev), { code: 'UNTRUSTED_ROOT' });
  await t.rejects(createEvidenceVerifier().verify(ev), { code: 'TRUST_ANCHOR_MISSING' });
  await t.rejects(a.getEvidence(Buffer.alloc(65)), { code: 'INVALID_INPUT' });
  await t.rejects(v.verify({ ...ev, quote: Buffer.from(ev.quote).subarray(0, 100) }), { code: 'EVIDENCE_MALFORMED' });
  await t.rejects(createEvidenceVerifier({ platforms: ['tdx'] }).verify(ev), { code: 'UNKNOWN_PLATFORM' });
  const debug = await createAttester('sim', { simDebug: true });
  const dc = await createEvidenceVerifier({ trustedSimKeys: [debug.simPublicKeyPem!] }).verify(await debug.getEvidence(Buffer.alloc(0)));
  t.equal(dc.debug, true);
  t.match(v.appraise(dc, { allowInsecure: true }).failures, [/debug/]);
});

t.test('auto attester: sim only when allowed', async (t) => {
  await t.rejects(createAttester('auto', { root: mkdtempSync(join(tmpdir(), 'noroot-')) }), { code: 'NO_PLATFORM' });
  const a = await createAttester('auto', { root: mkdtempSync(join(tmpdir(), 'noroot-')), allowSim: true });
  t.equal(a.platform, 'sim');
});

t.test('evidence codec rejects bad input', async (t) => {
  t.throws(() => decodeEvidence({ platform: 'nope', quote: 'AA==' }), { code: 'UNKNOWN_PLATFORM' });
  t.throws(() => decodeEvidence({ platform: 'sim', quote: 'A!==' }), { code: 'EVIDENCE_MALFORMED' });
  t.throws(() => decodeEvidence({ platform: 'sim', quote: 'AA==', x: 1 }), { code: 'EVIDENCE_MALFORMED' });
  t.throws(() => decodeEvidence({ platform: 'sim', quote: 'AA==', aux: { a: 1 } }), { code: 'EVIDENCE_MALFORMED' });
  t.throws(() => decodeEvidence('{'), { code: 'EVIDENCE_MALFORMED' });
  t.ok(decodeEvidence({ platform: 'tpm', quote: 'AAE=', aux: { a: 'b' } }).quote.length === 2);
  t.ok(new PlatformError('SIGNATURE_INVALID', 'x').httpStatus === 401);
});
