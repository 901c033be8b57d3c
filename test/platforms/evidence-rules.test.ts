// The two evidence rules every platform follows (docs/platforms.md):
//   trailing bytes: unsigned bytes after the end of the structure are reported as
//   a 'warn' check and read by nothing; bytes a parser cannot account for inside
//   a length-delimited structure, or under a signature, are rejected;
//   aux keys: each plugin declares its own; any other key is rejected by the
//   catalog's verifier, naming it.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createAttester, createEvidenceVerifier, PLUGINS } from '../../platforms/index.ts';
import { parseDcapQuote } from '../../platforms/core/dcap/quote.ts';
import type { Claims, Evidence } from '../../platforms/core/types.ts';
import { nowWithin, pemCerts, vector, vectorText } from './vectors.ts';

const tpmV = JSON.parse(vectorText('tpm_evidence.json')) as { ak_public: string; tpm_quote: { message: string; signature: string; pcrs: string[] } };
const sim = await createAttester('sim', { simMeasurements: { app: 'ab'.repeat(32) } });
const verifier = createEvidenceVerifier({
  hygonHrk: vector('hrk.cert'),
  trustedSimKeys: [sim.simPublicKeyPem!],
  tpmTrustedAkPems: [`-----BEGIN PUBLIC KEY-----\n${tpmV.ak_public}\n-----END PUBLIC KEY-----\n`],
});
const [ask, ark] = pemCerts(vectorText('milan_chain.pem'));
const dcapNow = (f: string) => nowWithin(pemCerts(parseDcapQuote(vector(f)).cert.pckChainPem));

interface Case {
  name: string;
  ev: Evidence;
  now: Date;
}
const CASES: Case[] = [
  { name: 'tdx', ev: { platform: 'tdx', quote: new Uint8Array(vector('tr_tdx_quote_4.dat')) }, now: dcapNow('tr_tdx_quote_4.dat') },
  { name: 'sgx', ev: { platform: 'sgx', quote: new Uint8Array(vector('sgx_v3.dat')) }, now: dcapNow('sgx_v3.dat') },
  { name: 'sev-snp', ev: { platform: 'sev-snp', quote: new Uint8Array(vector('snp_report.bin')), aux: { vcek: vector('vcek.der').toString('base64'), ask: ask!.toString(), ark: ark!.toString() } }, now: nowWithin([new X509Certificate(vector('vcek.der')), ask!, ark!]) },
  { name: 'csv', ev: { platform: 'csv', quote: new Uint8Array(vector('csv_report.cert')), aux: { hsk_cek: vector('hsk_cek.cert').toString('base64') } }, now: new Date() },
  { name: 'tpm', ev: { platform: 'tpm', quote: new Uint8Array(Buffer.from(tpmV.tpm_quote.message, 'base64')), aux: { signature: tpmV.tpm_quote.signature, pcrs: JSON.stringify(tpmV.tpm_quote.pcrs), ak_public: tpmV.ak_public } }, now: new Date() },
  { name: 'sim', ev: await sim.getEvidence(Buffer.alloc(64, 3)), now: new Date() },
];

const appended = (q: Uint8Array, extra: Buffer) => new Uint8Array(Buffer.concat([q, extra]));
const withoutTrailing = (c: Claims) => ({ ...c, checks: c.checks.filter((x) => x.check !== 'trailing-bytes') });

t.test('trailing bytes: reported as a warn check where unsigned, rejected where signed', async (t) => {
  const extra = Buffer.from('appended by a transport: not signed');
  for (const c of CASES) {
    const clean = await verifier.verify(c.ev, { now: c.now });
    t.same(clean.checks.find((x) => x.check === 'trailing-bytes')?.result, 'pass', `${c.name}: no trailing bytes, a pass`);
    const ev = { ...c.ev, quote: appended(c.ev.quote, extra) };
    if (c.name === 'tpm') {
      // The AK signs the whole TPMS_ATTEST message: appended bytes would be signed content no parser reads.
      await t.rejects(verifier.verify(ev, { now: c.now }), { code: 'EVIDENCE_MALFORMED', message: /bytes after TPMS_ATTEST/ }, 'tpm: rejected');
      continue;
    }
    const got = await verifier.verify(ev, { now: c.now });
    t.equal(got.checks.find((x) => x.check === 'trailing-bytes')?.result, 'warn', `${c.name}: a warn check`);
    t.match(got.checks.find((x) => x.check === 'trailing-bytes')?.detail, new RegExp(`^${extra.length} bytes after .* are not signed; ignored$`), `${c.name}: the count`);
    t.same(withoutTrailing(got), withoutTrailing(clean), `${c.name}: nothing else changes`);
  }
  // the TPM signature in aux is one structure as well
  const tpm = CASES.find((c) => c.name === 'tpm')!;
  const sig = Buffer.concat([Buffer.from(tpm.ev.aux!.signature!, 'base64'), Buffer.from([0])]).toString('base64');
  await t.rejects(verifier.verify({ ...tpm.ev, aux: { ...tpm.ev.aux, signature: sig } }), { code: 'EVIDENCE_MALFORMED', message: /1 bytes after TPMT_SIGNATURE/ });
});

t.test('trailing bytes in real vectors keep verifying, reported', async (t) => {
  for (const [file, n] of [['phala_tdx.dat', 70], ['tdx_v4.dat', 39]] as const) {
    const c = await verifier.verify({ platform: 'tdx', quote: vector(file) }, { now: dcapNow(file) });
    t.same(c.checks.find((x) => x.check === 'trailing-bytes'), { check: 'trailing-bytes', result: 'warn', detail: `${n} bytes after the signature data are not signed${file === 'phala_tdx.dat' ? ' (all zero)' : ''}; ignored` }, file);
  }
});

t.test('DCAP: slack inside the length-delimited signature data is rejected, not reported', async (t) => {
  for (const file of ['tr_tdx_quote_4.dat', 'sgx_v3.dat']) {
    const q = Buffer.from(vector(file));
    const p = parseDcapQuote(q);
    const se = p.signed.length;
    const sigLen = q.readUInt32LE(se);
    const end = se + 4 + sigLen;
    // 8 more bytes declared by the signature data length, read by nothing
    const outer = Buffer.concat([q.subarray(0, end), Buffer.alloc(8, 0xee), q.subarray(end)]);
    outer.writeUInt32LE(sigLen + 8, se);
    await t.rejects(verifier.verify({ platform: p.version === 3 ? 'sgx' : 'tdx', quote: outer }, { now: dcapNow(file) }), { code: 'EVIDENCE_MALFORMED', message: /8 bytes in the signature data after the certification data/ }, `${file}: outer slack`);
    if (p.version !== 3) {
      // and inside the QE report certification data (type 6): its size grows too
      const inner = Buffer.from(outer);
      const sizeAt = se + 4 + 128 + 2;
      inner.writeUInt32LE(inner.readUInt32LE(sizeAt) + 8, sizeAt);
      await t.rejects(verifier.verify({ platform: 'tdx', quote: inner }, { now: dcapNow(file) }), { code: 'EVIDENCE_MALFORMED', message: /8 bytes in the QE report certification data after the PCK chain/ }, `${file}: inner slack`);
    }
  }
});

t.test('sim: the signature follows the measurement list; bytes inserted before it are signed content', async (t) => {
  const c = CASES.find((x) => x.name === 'sim')!;
  const q = Buffer.from(c.ev.quote);
  const inserted = Buffer.concat([q.subarray(0, q.length - 64), Buffer.from([1, 2, 3]), q.subarray(q.length - 64)]);
  await t.rejects(verifier.verify({ platform: 'sim', quote: inserted }), { code: 'SIGNATURE_INVALID' });
});

t.test('unknown aux keys: rejected on every platform, naming the key; declared keys pass', async (t) => {
  for (const p of PLUGINS) t.ok(Array.isArray(p.auxKeys), `${p.name} declares its aux keys`);
  for (const c of CASES) {
    const ev = { ...c.ev, aux: { ...(c.ev.aux ?? {}), bogus_key: 'x' } };
    const known = PLUGINS.find((p) => p.name === c.ev.platform)!.auxKeys;
    const listed = known.length > 0 ? new RegExp(`its aux keys are ${known.join(', ')}`) : /it takes no aux entries/;
    await t.rejects(verifier.verify(ev, { now: c.now }), { code: 'EVIDENCE_MALFORMED', message: new RegExp(`^${c.ev.platform} evidence: unknown aux entry "bogus_key"`), details: { auxKey: 'bogus_key' } }, `${c.name}: verify`);
    await t.rejects(verifier.verify(ev, { now: c.now }), { message: listed }, `${c.name}: lists the known keys`);
    t.throws(() => verifier.parse(ev), { code: 'EVIDENCE_MALFORMED', message: /unknown aux entry "bogus_key"/ }, `${c.name}: parse`);
  }
  // a declared key passes: DCAP's collateral (Trustflow's json_collateral), listed as not used
  const tdx = CASES.find((x) => x.name === 'tdx')!;
  const c = await verifier.verify({ ...tdx.ev, aux: { collateral: '{}' } }, { now: tdx.now });
  t.same(c.checks.find((x) => x.check === 'evidence-collateral')?.result, 'not-checked');
  t.notOk((await verifier.verify(tdx.ev, { now: tdx.now })).checks.some((x) => x.check === 'evidence-collateral'), 'only when carried');
  // csv: its declared keys (attester output: report_version, chip_id, hsk_cek)
  const csv = CASES.find((x) => x.name === 'csv')!;
  t.ok(await verifier.verify({ ...csv.ev, aux: { ...csv.ev.aux, report_version: '1', chip_id: 'NZA9T14052605' } }));
});
