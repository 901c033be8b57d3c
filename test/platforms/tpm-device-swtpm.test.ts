// The TPM attester against a real TPM 2.0 implementation (swtpm / libtpms):
// attestation keys provisioned with tpm2-tools, real TPM2_Quote / PCR_Read /
// ReadPublic from the plugin's attester, verified by the tpm verifier with the
// AK from tpm2-tools as the trusted key, cross-checked with tpm2_checkquote and
// tpm2_pcrread; tampering is rejected. Two ways in: the TCG simulator socket
// (tpmSimulator) and the character-device transport, through a FUSE file that
// behaves like /dev/tpmrm0 (no TPM, vtpm proxy or CUSE on this machine).
import t from 'tap';
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAttester, createEvidenceVerifier } from '../../platforms/index.ts';
import { parseTpmsAttest } from '../../platforms/plugins/tpm/attest.ts';
import type { Evidence } from '../../platforms/core/types.ts';
import { mountFuseTpm, pcrRead, provisionAk, startSwtpm, type Swtpm } from '../native/swtpm.ts';
import { flip } from './vectors.ts';

const PCRS = [0, 1, 2, 3, 4, 5, 6, 7, 16];
const RSA_AK = 0x81010002;
const ECC_AK = 0x81010003;

let tpm: Swtpm;
let rsaPem: string;
let eccPem: string;

t.before(async () => {
  tpm = await startSwtpm();
  rsaPem = await provisionAk(tpm, RSA_AK, 'rsa');
  eccPem = await provisionAk(tpm, ECC_AK, 'ecc');
});
t.teardown(() => tpm?.stop());

/** tpm2_checkquote (tpm2-tools) on our evidence: an independent verifier of the quote and its signature. */
function checkquote(ev: Evidence, akPem: string, qualifying: Buffer): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'checkquote-'));
  writeFileSync(join(dir, 'ak.pem'), akPem);
  writeFileSync(join(dir, 'msg'), ev.quote);
  writeFileSync(join(dir, 'sig'), Buffer.from(ev.aux!.signature!, 'base64'));
  return tpm.tool('tpm2_checkquote', ['-u', join(dir, 'ak.pem'), '-m', join(dir, 'msg'), '-s', join(dir, 'sig'), '-g', 'sha256', '-q', qualifying.toString('hex')]);
}

t.test('swtpm over the TCG simulator socket: real quotes verify with the provisioned AK; tampering is rejected', async (t) => {
  const rd = createHash('sha512').update('nonce-1').digest(); // 64 bytes: SHA-512-sized qualifyingData
  const a = await createAttester('tpm', { tpmSimulator: `unix:${tpm.socket}`, tpmPcrs: PCRS });
  t.equal(await a.detect(), true);
  const ev = await a.getEvidence(rd);
  t.same(parseTpmsAttest(ev.quote).extraData, rd, 'qualifyingData = the 64-byte report data');
  t.ok(createPublicKey({ key: Buffer.from(ev.aux!.ak_public!, 'base64'), format: 'der', type: 'spki' }).equals(createPublicKey(rsaPem)), 'ReadPublic gives the AK tpm2-tools created');
  const v = createEvidenceVerifier({ tpmTrustedAkPems: [rsaPem] });
  const c = await v.verify(ev);
  t.equal(c.platform, 'tpm');
  t.equal(c.reportData, rd.toString('hex'));
  const expected = await pcrRead(tpm, PCRS);
  t.same(Object.fromEntries(PCRS.map((i) => [`pcr${i}`, c.measurements[`pcr${i}`]])), Object.fromEntries(PCRS.map((i) => [`pcr${i}`, expected.get(i)])), 'PCR values as tpm2_pcrread reads them');
  t.match(await checkquote(ev, rsaPem, rd), /sig:/, 'tpm2_checkquote accepts the quote');

  // tampering
  await t.rejects(v.verify({ ...ev, quote: flip(ev.quote, ev.quote.length - 40) }), { code: 'SIGNATURE_INVALID' }, 'a flipped byte in the signed TPMS_ATTEST');
  const pcrs = JSON.parse(ev.aux!.pcrs!) as { sha256: Record<string, string> };
  pcrs.sha256['16'] = 'ff'.repeat(32);
  await t.rejects(v.verify({ ...ev, aux: { ...ev.aux!, pcrs: JSON.stringify(pcrs) } }), { code: 'BINDING_INVALID' }, 'PCR values not behind the signed digest');
  await t.rejects(createEvidenceVerifier({ tpmTrustedAkPems: [eccPem] }).verify(ev), { code: 'UNTRUSTED_ROOT' }, 'an AK that is not trusted');
  const sig = Buffer.from(ev.aux!.signature!, 'base64');
  sig[sig.length - 1]! ^= 1;
  await t.rejects(v.verify({ ...ev, aux: { ...ev.aux!, signature: sig.toString('base64') } }), { code: 'SIGNATURE_INVALID' }, 'a flipped signature byte');
  await t.rejects(checkquote({ ...ev, quote: flip(ev.quote, 60) }, rsaPem, rd), 'tpm2_checkquote refuses the tampered quote too');
  t.match(v.appraise(c, { allowUnknownTcb: true, reportData: createHash('sha512').update('other').digest('hex') }).failures, [/report data/], 'another nonce does not appraise');

  // a PCR extended between two quotes: the new value, and evidence still consistent
  const before = c.measurements.pcr16!;
  const ext = createHash('sha256').update('event').digest('hex');
  await tpm.tool('tpm2_pcrextend', [`16:sha256=${ext}`]);
  const c2 = await v.verify(await a.getEvidence(rd));
  t.equal(c2.measurements.pcr16, createHash('sha256').update(Buffer.from(before, 'hex')).update(Buffer.from(ext, 'hex')).digest('hex'));
  t.equal(c2.measurements.pcr0, c.measurements.pcr0);
});

t.test('swtpm: an ECDSA P-256 AK; a missing AK handle is a device error', async (t) => {
  const a = await createAttester('tpm', { tpmSimulator: `unix:${tpm.socket}`, tpmAkHandle: ECC_AK, tpmPcrs: [0, 16] });
  const rd = Buffer.alloc(64, 0x33);
  const ev = await a.getEvidence(rd);
  const c = await createEvidenceVerifier({ tpmTrustedAkPems: [rsaPem, eccPem] }).verify(ev);
  t.equal(c.reportData, rd.toString('hex'));
  t.same(Object.keys(c.measurements).sort(), ['pcr0', 'pcr16']);
  t.match(await checkquote(ev, eccPem, rd), /sig:/, 'tpm2_checkquote accepts the ECDSA quote');
  await t.rejects(createEvidenceVerifier({ tpmTrustedAkPems: [rsaPem] }).verify(ev), { code: 'UNTRUSTED_ROOT' });
  await t.rejects((await createAttester('tpm', { tpmSimulator: `unix:${tpm.socket}`, tpmAkHandle: 0x81010009 })).getEvidence(rd), { code: 'DEVICE_ERROR', message: /Quote failed with response code 0x18b/ });
});

t.test('swtpm behind a FUSE /dev/tpmrm0: the character-device transport (open, write, read) gets real quotes', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tpm-root-'));
  const fuse = await mountFuseTpm(root, tpm.socket);
  t.teardown(() => fuse.stop());
  // tpm2-tools' own device TCTI talks to the same file: it behaves like a TPM device
  t.match(await tpm.tool('tpm2_getrandom', ['-T', `device:${fuse.device}`, '--hex', '8']), /^[0-9a-f]{16}$/);
  const a = await createAttester('auto', { root, tpmPcrs: PCRS });
  t.equal(a.platform, 'tpm', 'auto-detection finds <root>/dev/tpmrm0');
  const rd = createHash('sha512').update('nonce-fuse').digest();
  const ev = await a.getEvidence(rd);
  const c = await createEvidenceVerifier({ tpmTrustedAkPems: [rsaPem] }).verify(ev);
  t.equal(c.reportData, rd.toString('hex'));
  t.same(c.measurements.pcr16, (await pcrRead(tpm, [16])).get(16));
  await t.rejects(createEvidenceVerifier({ tpmTrustedAkPems: [rsaPem] }).verify({ ...ev, quote: flip(ev.quote, 10) }), { code: 'SIGNATURE_INVALID' });
});
