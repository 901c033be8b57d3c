// The ioctl device paths of the TDX, SEV-SNP and CSV attesters, end to end on a
// machine without TEE devices: the attester runs the real native helper, whose
// ioctl() (and AF_VSOCK connect) an LD_PRELOAD shim answers as the guest driver
// and firmware would (test/native/fake-tee-ioctl.c). Canned answers are real
// hardware vectors; when the request carries the vector's own report data the
// evidence verifies with the real vendor chains, and with any other report data
// the bytes reach the report at the right offset (and break its signature).
import t from 'tap';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createAttester, createEvidenceVerifier } from '../../platforms/index.ts';
import { parseDcapQuote, parseTdxReportBody } from '../../platforms/core/dcap/quote.ts';
import { createCsvAttester } from '../../platforms/plugins/csv/attester.ts';
import { parseCsvReport } from '../../platforms/plugins/csv/report.ts';
import { reportFromResponse, trimCertTable } from '../../platforms/plugins/sev-snp/attester.ts';
import { buildCertTable, parseCertTable } from '../../platforms/plugins/sev-snp/cert-table.ts';
import { parseSnpReport } from '../../platforms/plugins/sev-snp/report.ts';
import { resolveQgsEndpoint, tdxAttestConfPort } from '../../platforms/plugins/tdx/attester.ts';
import { decodeQgsGetQuoteResponse, encodeQgsGetQuoteRequest } from '../../platforms/transport/qgs.ts';
import { runTeeHelper } from '../../platforms/transport/tee-helper.ts';
import { createFakeTee } from '../native/fake-tee.ts';
import { nowWithin, pemCerts, vector, vectorText } from './vectors.ts';

// ------------------------------------------------------------------ SEV-SNP

t.test('sev-snp: SNP_GET_EXT_REPORT through /dev/sev-guest; the evidence carries the cert table and verifies', async (t) => {
  const fake = createFakeTee(['sev-guest']);
  const report = vector('turin.bin');
  const r = parseSnpReport(report);
  const [ask, ark] = pemCerts(vectorText('turin_chain.pem'));
  const vek = new X509Certificate(vector('turin-vcek.der'));
  const table = buildCertTable({ vcek: vector('turin-vcek.der'), ask: ask!.raw, ark: ark!.raw });
  writeFileSync(join(fake.canned, 'snp-report.bin'), report);
  writeFileSync(join(fake.canned, 'snp-certs.bin'), table);
  const now = nowWithin([vek, ask!, ark!]);

  const a = await createAttester('auto', { root: fake.root, teeHelper: fake.helper, snpPrivLevel: r.vmpl });
  t.equal(a.platform, 'sev-snp', 'auto-detection: /dev/sev-guest without configfs-tsm');
  const ev = await a.getEvidence(r.reportData);
  const [req] = fake.log();
  t.match(req, { ioctl: 'SNP_GET_EXT_REPORT', msg_version: 1, vmpl: r.vmpl, rsvd_zero: true, user_data: r.reportData.toString('hex'), certs_len: 16384, certs_address_set: true });
  t.same(Buffer.from(ev.quote), report, 'the report out of MSG_REPORT_RSP (32-byte header cut)');
  const got = Buffer.from(ev.aux!.cert_table!, 'base64');
  t.same(got, table, 'the cert table cut to the extent of its entries');
  t.same(parseCertTable(got).vcek, vector('turin-vcek.der'));
  const claims = await createEvidenceVerifier().verify(ev, { now });
  t.equal(claims.platform, 'sev-snp');
  t.equal(claims.reportData, r.reportData.toString('hex'));

  // Other report data and VMPL: they reach the firmware at their offsets (and the vector's signature breaks).
  const rd = Buffer.alloc(64, 0x5a);
  const other = await (await createAttester('sev-snp', { root: fake.root, teeHelper: fake.helper, snpPrivLevel: 2 })).getEvidence(rd);
  t.match(fake.log().at(-1), { vmpl: 2, user_data: rd.toString('hex') });
  t.same(parseSnpReport(other.quote).reportData, rd);
  t.equal(parseSnpReport(other.quote).vmpl, 2);
  await t.rejects(createEvidenceVerifier().verify(other, { now }), { code: 'SIGNATURE_INVALID' });

  // SNP_GET_REPORT alone (snpExtendedReport false): no certificates.
  const plain = await (await createAttester('sev-snp', { root: fake.root, teeHelper: fake.helper, snpPrivLevel: r.vmpl, snpExtendedReport: false })).getEvidence(r.reportData);
  t.match(fake.log().at(-1), { ioctl: 'SNP_GET_REPORT', msg_version: 1 });
  t.equal(plain.aux, undefined);
  t.same(Buffer.from(plain.quote), report);

  // A firmware error comes back as DEVICE_ERROR with the firmware code.
  fake.fault('snp-fw:0x16');
  await t.rejects(a.getEvidence(r.reportData), { code: 'DEVICE_ERROR', message: /SNP_GET_EXT_REPORT failed: EIO.*firmware error 0x16/, details: { errno: 5, fwError: 0x16 } });
  fake.fault(undefined);
});

t.test('sev-snp: "certificate buffer too small" -> the helper retries once with the size the kernel asks for', async (t) => {
  const fake = createFakeTee(['sev-guest']);
  writeFileSync(join(fake.canned, 'snp-report.bin'), vector('turin.bin'));
  const big = Buffer.concat([buildCertTable({ vcek: vector('turin-vcek.der') }), Buffer.alloc(6000, 7)]);
  writeFileSync(join(fake.canned, 'snp-certs.bin'), big);
  const ans = await runTeeHelper('snp-ext-report', ['--device', join(fake.root, 'dev/sev-guest'), '--vmpl', '0', '--certs-len', '4096'], 'cd'.repeat(64), { helper: fake.helper });
  t.same(
    fake.log().map((l) => l.certs_len),
    [4096, 8192],
    'first 1 page, then the 2 pages the kernel reported',
  );
  t.equal(ans.retried, true);
  t.equal(ans.certs_len, 8192);
  t.same(Buffer.from(ans.certs as string, 'hex').subarray(0, big.length), big);
  t.same(parseSnpReport(reportFromResponse(Buffer.from(ans.resp as string, 'hex'))).reportData, Buffer.alloc(64, 0xcd));
  // not a multiple of a page: refused before any ioctl
  await t.rejects(runTeeHelper('snp-ext-report', ['--device', join(fake.root, 'dev/sev-guest'), '--certs-len', '5000'], 'cd'.repeat(64), { helper: fake.helper }), { code: 'DEVICE_ERROR', message: /multiple of 4096/ });
});

t.test('sev-snp: response and cert-table parsing', async (t) => {
  const resp = Buffer.alloc(4000);
  resp.writeUInt32LE(0x16, 0);
  t.throws(() => reportFromResponse(resp), { code: 'DEVICE_ERROR', message: /status 0x16/ });
  resp.writeUInt32LE(0, 0);
  resp.writeUInt32LE(100, 4);
  t.throws(() => reportFromResponse(resp), { code: 'DEVICE_ERROR', message: /100-byte report/ });
  t.equal(trimCertTable(Buffer.alloc(16384)), undefined, 'an all-zero buffer: the host sent no certificates');
  const table = buildCertTable({ vcek: Buffer.from('vcek'), ark: Buffer.from('ark!') });
  t.same(trimCertTable(Buffer.concat([table, Buffer.alloc(4096)])), table);
  const noEnd = Buffer.alloc(48, 1);
  t.throws(() => trimCertTable(noEnd), { code: 'DEVICE_ERROR' });
});

// ---------------------------------------------------------------------- TDX

interface FakeQgs {
  path: string;
  requests: Buffer[];
  answer: (req: Buffer) => Buffer;
  close(): Promise<void>;
}

/** A QGS on a Unix socket speaking the framed qgs_msg protocol (what Intel's qgs does). */
async function fakeQgs(path: string, quote: Buffer): Promise<FakeQgs> {
  const q: FakeQgs = {
    path,
    requests: [],
    answer: () => {
      const m = Buffer.alloc(24 + quote.length);
      m.writeUInt16LE(1, 0);
      m.writeUInt16LE(1, 2);
      m.writeUInt32LE(1, 4);
      m.writeUInt32LE(m.length, 8);
      m.writeUInt32LE(0, 12);
      m.writeUInt32LE(0, 16);
      m.writeUInt32LE(quote.length, 20);
      quote.copy(m, 24);
      return m;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server: Server = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) return;
      const msg = buf.subarray(4, 4 + buf.readUInt32BE(0));
      q.requests.push(Buffer.from(msg));
      const out = q.answer(msg);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(out.length);
      sock.end(Buffer.concat([len, out]));
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return q;
}

function tdxSetup() {
  const fake = createFakeTee(['tdx_guest']);
  const quote = vector('tdx_v4.dat');
  const body = parseTdxReportBody(parseDcapQuote(quote).body);
  const tdreport = Buffer.alloc(1024);
  body.mrTd.copy(tdreport, 512 + 16); // TDINFO.MRTD of this TD
  writeFileSync(join(fake.canned, 'tdreport.bin'), tdreport);
  const now = nowWithin(pemCerts(parseDcapQuote(quote).cert.pckChainPem));
  return { fake, quote, body, now };
}

t.test('tdx: TDX_CMD_GET_REPORT0 through /dev/tdx_guest, the quote from a QGS on a Unix socket; it verifies', async (t) => {
  const { fake, quote, body, now } = tdxSetup();
  const qgs = await fakeQgs(join(fake.root, 'qgs.sock'), quote);
  t.teardown(() => qgs.close());
  const a = await createAttester('auto', { root: fake.root, teeHelper: fake.helper, tdxQgs: `unix:${qgs.path}` });
  t.equal(a.platform, 'tdx', 'auto-detection: /dev/tdx_guest without configfs-tsm');
  const ev = await a.getEvidence(body.reportData);
  t.match(fake.log()[0], { ioctl: 'TDX_CMD_GET_REPORT0', reportdata: body.reportData.toString('hex') });
  const req = qgs.requests[0]!;
  t.equal(req.readUInt16LE(0), 1, 'QGS major version 1');
  t.equal(req.readUInt16LE(2), 1, 'minor version 1');
  t.equal(req.readUInt32LE(4), 0, 'GET_QUOTE_REQ');
  t.equal(req.readUInt32LE(8), req.length, 'header size = the whole message');
  t.equal(req.readUInt32LE(16), 1024, 'report_size');
  t.equal(req.readUInt32LE(20), 0, 'no id list');
  t.same(req.subarray(24 + 128, 24 + 192), body.reportData, 'the TDREPORT from the ioctl, REPORTDATA at 128');
  t.same(Buffer.from(ev.quote), quote);
  const claims = await createEvidenceVerifier().verify(ev, { now });
  t.equal(claims.reportData, body.reportData.toString('hex'));
  t.equal(claims.measurements.mr_td, body.mrTd.toString('hex'));

  // The QGS's quote must carry our REPORTDATA and MRTD.
  await t.rejects(a.getEvidence(Buffer.alloc(64, 1)), { code: 'DEVICE_ERROR', message: /REPORTDATA/ });
  const otherTd = Buffer.alloc(1024, 0);
  writeFileSync(join(fake.canned, 'tdreport.bin'), otherTd);
  await t.rejects(a.getEvidence(body.reportData), { code: 'DEVICE_ERROR', message: /MRTD/ });
  // A QGS error is an error.
  qgs.answer = () => {
    const m = Buffer.alloc(24);
    m.writeUInt16LE(1, 0);
    m.writeUInt32LE(1, 4);
    m.writeUInt32LE(24, 8);
    m.writeUInt32LE(0x12001, 12);
    return m;
  };
  await t.rejects(a.getEvidence(body.reportData), { code: 'DEVICE_ERROR', message: /error_code 0x12001/ });
  fake.fault('tdx-eio');
  await t.rejects(a.getEvidence(body.reportData), { code: 'DEVICE_ERROR', message: /TDX_CMD_GET_REPORT0 failed: EIO/ });
});

t.test('tdx: the QGS on vsock (port from /etc/tdx-attest.conf, host CID 2) through the helper', async (t) => {
  const { fake, quote, body, now } = tdxSetup();
  const qgs = await fakeQgs(join(fake.root, 'vsock-qgs.sock'), quote);
  t.teardown(() => qgs.close());
  fake.vsockTo(qgs.path);
  const a = await createAttester('tdx', { root: fake.root, teeHelper: fake.helper });
  await t.rejects(a.getEvidence(body.reportData), { code: 'NO_PLATFORM', message: /tdxQgs/ }, 'no QGS configured anywhere');
  mkdirSync(join(fake.root, 'etc'));
  writeFileSync(join(fake.root, 'etc/tdx-attest.conf'), '# comment\n port = 4050 \n');
  const ev = await a.getEvidence(body.reportData);
  t.match(fake.log().find((l) => l.connect), { connect: 'vsock', cid: 2, port: 4050, addrlen: 16 });
  t.equal(qgs.requests.length, 1);
  t.ok(await createEvidenceVerifier().verify(ev, { now }));
  // an explicit endpoint wins over the conf file
  const b = await createAttester('tdx', { root: fake.root, teeHelper: fake.helper, tdxQgs: 'vsock:3:5000' });
  await b.getEvidence(body.reportData);
  t.match(fake.log().filter((l) => l.connect).at(-1), { cid: 3, port: 5000 });
  await t.rejects(createAttester('tdx', { root: fake.root, tdxQgs: 'tcp:1.2.3.4:5' }), { code: 'INVALID_INPUT', message: /tdxQgs/ }, 'the schema refuses other endpoints');
});

t.test('tdx: QGS endpoint selection and message codec', async (t) => {
  const { fake } = tdxSetup();
  t.equal(await resolveQgsEndpoint(fake.root), undefined);
  mkdirSync(join(fake.root, 'var/run/tdx-qgs'), { recursive: true });
  const q = await fakeQgs(join(fake.root, 'var/run/tdx-qgs/qgs.socket'), Buffer.from('q'));
  t.teardown(() => q.close());
  t.same(await resolveQgsEndpoint(fake.root), { kind: 'unix', path: join(fake.root, 'var/run/tdx-qgs/qgs.socket') }, 'the default QGS Unix socket');
  mkdirSync(join(fake.root, 'etc'));
  writeFileSync(join(fake.root, 'etc/tdx-attest.conf'), 'port=4051\n');
  t.same(await resolveQgsEndpoint(fake.root), { kind: 'vsock', cid: 2, port: 4051 }, 'tdx-attest.conf before the socket');
  t.same(await resolveQgsEndpoint(fake.root, 'unix:/x/y'), { kind: 'unix', path: '/x/y' });
  t.equal(tdxAttestConfPort('port = abc\n'), undefined);
  const m = encodeQgsGetQuoteRequest(Buffer.alloc(1024, 9));
  t.equal(m.length, 16 + 8 + 1024);
  const resp = Buffer.alloc(24 + 3);
  resp.writeUInt16LE(1, 0);
  resp.writeUInt32LE(1, 4);
  resp.writeUInt32LE(27, 8);
  resp.writeUInt32LE(3, 20);
  resp.write('abc', 24);
  t.equal(decodeQgsGetQuoteResponse(resp).quote.toString(), 'abc');
  resp.writeUInt32LE(2, 0);
  t.throws(() => decodeQgsGetQuoteResponse(resp), { message: /major version 2/ });
  resp.writeUInt16LE(1, 0);
  resp.writeUInt32LE(26, 8);
  t.throws(() => decodeQgsGetQuoteResponse(resp), { message: /header size 26/ });
});

// ---------------------------------------------------------------------- CSV

t.test('csv: CSV_CMD_GET_REPORT through /dev/csv-guest with the built-in helper; replayed vector verifies HRK -> report', async (t) => {
  const fake = createFakeTee(['csv-guest']);
  const full = vector('csv_report.cert');
  writeFileSync(join(fake.canned, 'csv-report.bin'), full);
  const orig = parseCsvReport(full, 1);
  const certDir = join(fake.root, 'certs');
  mkdirSync(join(certDir, orig.chipSn), { recursive: true });
  writeFileSync(join(certDir, orig.chipSn, 'hsk_cek.cert'), vector('hsk_cek.cert'));

  // A fresh mnonce (the default): the request is {data, mnonce, SM3(data||mnonce)} and the report carries both.
  const a = await createAttester('auto', { root: fake.root, teeHelper: fake.helper, csvHskCekDir: certDir });
  t.equal(a.platform, 'csv', 'auto-detection: /dev/csv-guest');
  const rd = Buffer.alloc(64, 0x42);
  const ev = await a.getEvidence(rd);
  const req = fake.log()[0]!;
  t.match(req, { ioctl: 'CSV_CMD_GET_REPORT', len: 4096, data: rd.toString('hex') });
  const mnonce = Buffer.from(req.mnonce as string, 'hex');
  t.equal(req.hash, createHash('sm3').update(rd).update(mnonce).digest('hex'), 'SM3(data || mnonce)');
  t.same(parseCsvReport(ev.quote, 1).mnonce, mnonce);
  t.same(parseCsvReport(ev.quote, 1).reportData, rd);
  t.equal(ev.quote.length, full.length, 'the zero tail of the 4096-byte buffer is cut');
  t.match(ev.aux, { report_version: '1', chip_id: orig.chipSn });
  const v = createEvidenceVerifier({ hygonHrk: vector('hrk.cert') });
  await t.rejects(v.verify(ev), { code: 'SIGNATURE_INVALID' }, 'new data and mnonce in a vector signed for others');
  t.not((await a.getEvidence(rd)).quote.toString(), ev.quote.toString(), 'each request has its own mnonce');

  // Replaying the vector's own data and mnonce, the evidence verifies with the full chain.
  const replay = createCsvAttester({ root: fake.root, teeHelper: fake.helper, hskCekDir: certDir, mnonce: () => Buffer.from(orig.mnonce) });
  const ok = await replay.getEvidence(orig.reportData);
  t.same(Buffer.from(ok.quote), full);
  const c = await v.verify(ok);
  t.equal(c.extra?.chain, 'hrk');
  t.equal(c.extra?.chip_id, orig.chipSn);

  fake.fault('csv-eio');
  await t.rejects(a.getEvidence(rd), { code: 'DEVICE_ERROR', message: /CSV_CMD_GET_REPORT failed: EIO/ });
});
