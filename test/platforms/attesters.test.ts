import t from 'tap';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAttester } from '../../platforms/index.ts';
import { parseDcapQuote, parseTdxReportBody } from '../../platforms/core/dcap/quote.ts';
import { parseCertTable } from '../../platforms/plugins/sev-snp/cert-table.ts';
import { parseSnpReport } from '../../platforms/plugins/sev-snp/report.ts';
import { TSM_REPORT_DIR } from '../../platforms/transport/configfs-tsm.ts';
import { readTdxSysfsMeasurements } from '../../platforms/plugins/tdx/attester.ts';
import { emulateTsm } from './configfs-emulator.ts';
import { vector } from './vectors.ts';

const RD = Buffer.from('ab'.repeat(64), 'hex');

t.test('tdx attester through an emulated configfs-tsm tree', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-tdx-'));
  const emu = emulateTsm(root, 'tdx_guest', (inblob) => {
    const q = Buffer.from(vector('tdx_v4.dat'));
    inblob.copy(q, 0x238); // the emulated TDX module places REPORTDATA
    return { outblob: q };
  });
  t.teardown(() => emu.close());
  const a = await createAttester('tdx', { root });
  t.equal(await a.detect(), false, 'configfs alone is not a TDX guest');
  mkdirSync(join(root, 'dev'));
  writeFileSync(join(root, 'dev/tdx_guest'), '');
  t.equal(await a.detect(), true);
  t.equal((await createAttester('auto', { root })).platform, 'tdx', 'auto-detection picks tdx');
  const ev = await a.getEvidence(RD);
  t.equal(ev.platform, 'tdx');
  t.same(parseTdxReportBody(parseDcapQuote(ev.quote).body).reportData, RD);
  t.same(emu.requests[0]!.inblob, RD, 'inblob is the 64-byte report data');
  t.same(readdirSync(join(root, TSM_REPORT_DIR)), [], 'report entry removed');
  await t.rejects(a.getEvidence(Buffer.alloc(65)), { code: 'INVALID_INPUT' });
  // measurement registers from sysfs (Linux 6.16+)
  const mdir = join(root, 'sys/devices/virtual/misc/tdx_guest/measurements');
  mkdirSync(mdir, { recursive: true });
  writeFileSync(join(mdir, 'mrtd:sha384'), Buffer.alloc(48, 1));
  writeFileSync(join(mdir, 'rtmr3:sha384'), Buffer.alloc(48, 3));
  t.same(await readTdxSysfsMeasurements(root), { mrtd: '01'.repeat(48), rtmr3: '03'.repeat(48) });
  const snp = await createAttester('sev-snp', { root });
  await t.rejects(snp.getEvidence(RD), { code: 'NO_PLATFORM', message: /tdx_guest/ }, 'wrong provider');
});

t.test('sev-snp attester: privlevel, outblob and auxblob cert table', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tsm-snp-'));
  const table = Buffer.alloc(24 * 2 + 4);
  // one VCEK entry pointing at 4 bytes after the terminator
  Buffer.from('8d75da6364e66445adc5f4b93be8accd', 'hex').copy(table, 0);
  table.writeUInt32LE(48, 16);
  table.writeUInt32LE(4, 20);
  table.write('vcek', 48);
  const emu = emulateTsm(root, 'sev_guest', (inblob) => {
    const r = Buffer.from(vector('turin.bin'));
    inblob.copy(r, 0x50);
    return { outblob: r, auxblob: table };
  });
  t.teardown(() => emu.close());
  mkdirSync(join(root, 'dev'));
  writeFileSync(join(root, 'dev/sev-guest'), '');
  const a = await createAttester('auto', { root, snpPrivLevel: 2 });
  t.equal(a.platform, 'sev-snp');
  const ev = await a.getEvidence(RD);
  t.same(parseSnpReport(ev.quote).reportData, RD);
  t.equal(parseCertTable(Buffer.from(ev.aux!.cert_table!, 'base64')).vcek?.toString(), 'vcek');
  t.equal(emu.requests[0]!.privlevel, '2');
});

t.test('sgx attester: Gramine /dev/attestation; Occlum helper command', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gramine-'));
  const att = join(root, 'dev/attestation');
  mkdirSync(att, { recursive: true });
  writeFileSync(join(att, 'attestation_type'), 'dcap');
  writeFileSync(join(att, 'quote'), vector('sgx_v3.dat'));
  const a = await createAttester('sgx', { root });
  t.equal(await a.detect(), true);
  const ev = await a.getEvidence(RD);
  t.same(readFileSync(join(att, 'user_report_data')), RD, 'report data written for Gramine');
  t.equal(parseDcapQuote(ev.quote).version, 3);
  writeFileSync(join(att, 'attestation_type'), 'none');
  t.equal(await a.detect(), false, 'attestation_type none is not usable');

  const occ = mkdtempSync(join(tmpdir(), 'occlum-'));
  mkdirSync(join(occ, 'dev'));
  writeFileSync(join(occ, 'dev/sgx'), '');
  const script = join(occ, 'quote.mjs');
  writeFileSync(script, `process.stdout.write(Buffer.concat([Buffer.from('QUOTE:'), Buffer.from(process.argv[2], 'hex')]))`);
  const o = await createAttester('sgx', { root: occ, sgxQuoteCommand: [process.execPath, script] });
  t.equal(await o.detect(), true);
  const oe = await o.getEvidence(RD);
  t.same(Buffer.from(oe.quote).subarray(6), RD, 'helper receives the report data');
  const none = await createAttester('sgx', { root: mkdtempSync(join(tmpdir(), 'nosgx-')) });
  await t.rejects(none.getEvidence(RD), { code: 'NO_PLATFORM' });
});

t.test('csv attester: ioctl helper command, mnonce must come back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'csv-'));
  mkdirSync(join(dir, 'dev'));
  writeFileSync(join(dir, 'dev/csv-guest'), '');
  // A helper that answers with a v1-shaped report (anonce 0) carrying data and mnonce from the request.
  const good = join(dir, 'good.mjs');
  writeFileSync(good, `const req = Buffer.from(process.argv[2], 'hex'); const r = Buffer.alloc(4096); req.copy(r, 64, 0, 80); r.writeUInt32LE(4, 0xb8); r.writeUInt32LE(1, 0x150); Buffer.from('CHIP1').copy(r, 0x150 + 2084); process.stdout.write(r);`);
  const stale = join(dir, 'stale.mjs');
  writeFileSync(stale, `const req = Buffer.from(process.argv[2], 'hex'); const r = Buffer.alloc(4096); req.copy(r, 64, 0, 64); r.writeUInt32LE(4, 0xb8); r.writeUInt32LE(1, 0x150); process.stdout.write(r);`);
  const a = await createAttester('csv', { root: dir, csvReportCommand: [process.execPath, good] });
  t.equal(await a.detect(), true);
  const ev = await a.getEvidence(RD);
  t.equal(ev.aux?.chip_id, 'CHIP1');
  t.same(Buffer.from(ev.quote).subarray(64, 128), RD);
  await t.rejects((await createAttester('csv', { root: dir, csvReportCommand: [process.execPath, stale] })).getEvidence(RD), { code: 'DEVICE_ERROR', message: /mnonce/ });
  // Without csvReportCommand the built-in native helper does the ioctl: the device alone decides.
  t.equal(await (await createAttester('csv', { root: dir })).detect(), true, '/dev/csv-guest present: a CSV guest');
  const none = await createAttester('csv', { root: mkdtempSync(join(tmpdir(), 'nocsv-')) });
  t.equal(await none.detect(), false, 'no /dev/csv-guest, no csv');
  await t.rejects(none.getEvidence(RD), { code: 'NO_PLATFORM', message: /csv-guest/ });
  await t.rejects(createAttester('csv', { root: dir, teeHelper: '' }), { code: 'INVALID_INPUT', message: /teeHelper/ }, 'option schema');
  await t.rejects((await createAttester('csv', { root: dir, teeHelper: join(dir, 'missing-helper') })).getEvidence(RD), { code: 'DEVICE_ERROR', message: /aenv-tee-helper is not an executable file .*setup\.sh/ }, 'a missing helper is a clear error');
});

t.test('detection without configfs-tsm: the guest devices decide; every attester names its missing path', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'nodev-'));
  for (const p of ['tdx', 'sev-snp', 'csv', 'tpm'] as const) t.equal(await (await createAttester(p, { root })).detect(), false, `${p}: nothing present`);
  await t.rejects((await createAttester('tdx', { root })).getEvidence(RD), { code: 'NO_PLATFORM', message: /configfs-tsm.*tdx_guest/ });
  await t.rejects((await createAttester('sev-snp', { root })).getEvidence(RD), { code: 'NO_PLATFORM', message: /configfs-tsm.*sev-guest/ });
  await t.rejects(createAttester('auto', { root }), { code: 'NO_PLATFORM' });
  mkdirSync(join(root, 'sys/devices/virtual/misc/tdx_guest'), { recursive: true });
  t.equal(await (await createAttester('tdx', { root })).detect(), false, 'the sysfs node alone (no device, no configfs) cannot quote');
  mkdirSync(join(root, TSM_REPORT_DIR), { recursive: true });
  t.equal(await (await createAttester('tdx', { root })).detect(), true, 'sysfs node + configfs-tsm');
  const snpRoot = mkdtempSync(join(tmpdir(), 'snpdev-'));
  mkdirSync(join(snpRoot, 'dev'));
  writeFileSync(join(snpRoot, 'dev/sev-guest'), '');
  t.equal(await (await createAttester('sev-snp', { root: snpRoot })).detect(), true, '/dev/sev-guest alone (the ioctl path)');
  const tpmRoot = mkdtempSync(join(tmpdir(), 'tpmdev-'));
  mkdirSync(join(tpmRoot, 'dev'));
  writeFileSync(join(tpmRoot, 'dev/tpmrm0'), '');
  t.equal(await (await createAttester('tpm', { root: tpmRoot })).detect(), true, '/dev/tpmrm0 readable and writable');
  t.equal(await (await createAttester('tpm', { root, tpmDevice: join(tpmRoot, 'dev/tpmrm0') })).detect(), true, 'tpmDevice overrides the path');
  await t.rejects(createAttester('tpm', { root, tpmSimulator: 'not an address' }), { code: 'INVALID_INPUT', message: /tpmSimulator/ });
  // a regular file is not a TPM: the device transport refuses the answer
  await t.rejects((await createAttester('tpm', { root: tpmRoot })).getEvidence(RD), { code: 'DEVICE_ERROR' });
});
