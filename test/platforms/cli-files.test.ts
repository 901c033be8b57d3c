// `aenv verify --platform P --report FILE [--vcek|--vlek FILE] [--chain FILE]
// [--collateral DIR]`: raw reports and certificates as files, the verdict in the
// output and on stderr, errors with a code that name the flag to use, and the
// exit codes (0 verified, 1 rejected, 2 usage).
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../platforms/cli.ts';
import { parseDcapQuote } from '../../platforms/core/dcap/quote.ts';
import { captureOutput } from '../helpers/capture-output.ts';
import { nowWithin, pemCerts, VECTORS, vector, vectorText } from './vectors.ts';

const dir = mkdtempSync(join(tmpdir(), 'vfiles-'));
const V = (name: string) => join(VECTORS, name);
const file = (name: string, data: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const run = async (args: string[]) => {
  const c = await captureOutput(() => main(args));
  return { rc: c.value, out: c.out, err: c.err };
};
const snpNow = (vek: string, chain: string) => {
  const [ask, ark] = pemCerts(vectorText(chain));
  return nowWithin([new X509Certificate(vector(vek)), ask!, ark!]).toISOString();
};
const milan = ['--platform', 'sev-snp', '--report', V('snp_report.bin'), '--now', snpNow('vcek.der', 'milan_chain.pem'), '--allow-debug', '--allow-unknown-tcb'];

t.test('raw SEV-SNP report + --vcek + --chain verifies (Milan v2, Turin v5), the verdict printed', async (t) => {
  const ok = await run([...milan, '--vcek', V('vcek.der'), '--chain', V('milan_chain.pem')]);
  t.equal(ok.rc, 0, ok.err);
  const out = JSON.parse(ok.out) as { ok: boolean; claims: { platform: string; extra: { product: string } }; checks: Array<{ check: string; result: string; detail?: string }>; warnings: string[] };
  t.equal(out.ok, true);
  t.equal(out.claims.platform, 'sev-snp');
  t.equal(out.claims.extra.product, 'Milan');
  t.same(out.checks.filter((c) => c.result === 'pass').map((c) => c.check), ['signature', 'cert-chain', 'tcb-binding', 'chip-id-binding', 'trailing-bytes']);
  // the combined ask+ark file (one PEM with both) fed the whole chain
  t.match(out.checks.find((c) => c.check === 'cert-chain')?.detail, /^SEV-VCEK <- SEV-Milan <- ARK-Milan/);
  t.same(out.warnings, ['crl not checked: no AMD CRL supplied: VCEK and ASK revocation not checked', 'tcb-status not checked: no collateral: TCB status Unknown']);
  for (const w of out.warnings) t.ok(ok.err.includes(`verify: warning: ${w}\n`), `stderr: ${w}`);

  const turin = await run(['--platform', 'sev-snp', '--report', V('turin.bin'), '--vcek', V('turin-vcek.der'), '--chain', V('turin_chain.pem'), '--now', snpNow('turin-vcek.der', 'turin_chain.pem'), '--allow-unknown-tcb']);
  t.equal(turin.rc, 0, turin.err);
  t.equal(JSON.parse(turin.out).claims.extra.product, 'Turin');
  t.match(JSON.parse(turin.out).checks.find((c: { check: string }) => c.check === 'cert-chain').detail, /SEV-Turin <- ARK-Turin/);

  // PEM VCEK and a chain given as separate DER files in one PEM: formats detected
  const vcekPem = file('vcek.pem', new X509Certificate(vector('vcek.der')).toString());
  t.equal((await run([...milan, '--vcek', vcekPem, '--chain', V('milan_chain.pem')])).rc, 0, 'PEM VCEK');
  const [ask] = pemCerts(vectorText('milan_chain.pem'));
  const askDer = file('ask.der', ask!.raw);
  const askOnly = await run([...milan, '--vcek', V('vcek.der'), '--chain', askDer]);
  t.equal(askOnly.rc, 0, `a DER ASK alone: the ARK is the pinned one (${askOnly.err})`);
  // JSON evidence through --report: detected, no --platform needed
  const ev = file('snp.json', JSON.stringify({ platform: 'sev-snp', quote: vector('snp_report.bin').toString('base64'), aux: { vcek: vector('vcek.der').toString('base64') } }));
  const json = await run(['--report', ev, '--chain', V('milan_chain.pem'), '--now', snpNow('vcek.der', 'milan_chain.pem'), '--allow-debug', '--allow-unknown-tcb']);
  t.equal(json.rc, 0, json.err);
  t.equal((await run(['--report', ev, '--platform', 'tdx'])).rc, 2, '--platform contradicting the JSON evidence');
});

t.test('Unknown TCB rejects by default, naming the flag that accepts it', async (t) => {
  const r = await run(milan.filter((a) => a !== '--allow-unknown-tcb').concat(['--vcek', V('vcek.der'), '--chain', V('milan_chain.pem')]));
  t.equal(r.rc, 1);
  t.match(r.err, /verify: rejected: POLICY_REJECTED: .*TCB status Unknown is not accepted.*--allow-unknown-tcb/);
  t.match(r.err, /verify: warning: tcb-status not checked: no collateral: TCB status Unknown/, 'warnings printed on a rejection too');
  const policy = file('policy.json', JSON.stringify({ allowUnknownTcb: true }));
  t.equal((await run(milan.filter((a) => a !== '--allow-unknown-tcb').concat(['--vcek', V('vcek.der'), '--chain', V('milan_chain.pem'), '--policy', policy]))).rc, 0, 'or the policy file');
});

t.test('VCEK files: corrupted, tampered, of another chip; the message names the flag', async (t) => {
  const truncated = file('trunc.der', vector('vcek.der').subarray(0, 200));
  const bad = await run([...milan, '--vcek', truncated, '--chain', V('milan_chain.pem')]);
  t.equal(bad.rc, 1);
  t.match(bad.err, new RegExp(`EVIDENCE_MALFORMED: --vcek ${truncated} is not a valid X.509 certificate: the VCEK file is corrupted or truncated`));
  t.notMatch(bad.err, /decode error|asn1|header too long/i, 'no bare OpenSSL message');
  const junk = await run([...milan, '--vcek', file('junk.der', 'not a certificate\n')]);
  t.match(junk.err, /EVIDENCE_MALFORMED: --vcek .* is neither PEM nor DER/);
  const pemNoCert = await run([...milan, '--vcek', file('key.pem', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')]);
  t.match(pemNoCert.err, /--vcek .* is PEM but holds no CERTIFICATE block/);

  // tampered: the serial number (inside the signed TBS, outside the key) flipped
  const der = Buffer.from(vector('vcek.der'));
  t.equal(der[13], 0x02, 'the serial INTEGER of the fixture');
  der[15]! ^= 0x01;
  const tampered = file('tampered.der', der);
  const tam = await run([...milan, '--vcek', tampered, '--chain', V('milan_chain.pem')]);
  t.equal(tam.rc, 1);
  t.match(tam.err, new RegExp(`CHAIN_INVALID: the VCEK from --vcek ${tampered} is not signed by "SEV-Milan" from --chain ${V('milan_chain.pem')}: the VCEK file is tampered`));
  const tamNoChain = await run([...milan, '--vcek', tampered]);
  t.equal(tamNoChain.rc, 1);
  t.match(tamNoChain.err, /CHAIN_INVALID: .*--vcek .*pass --chain with AMD's ask\+ark file/);
  t.notMatch(tamNoChain.err, /aux\.ask|amdIntermediatePems/, 'flags, not aux keys');

  const other = await run([...milan, '--vcek', V('t-vcek.der'), '--chain', V('milan_chain.pem')]);
  t.equal(other.rc, 1);
  t.match(other.err, /SIGNATURE_INVALID: the report signature does not verify with the VCEK from --vcek .*t-vcek\.der: a VCEK of another chip or TCB/);
  const wrongChain = await run([...milan, '--vcek', V('vcek.der'), '--chain', V('turin_chain.pem')]);
  t.equal(wrongChain.rc, 1);
  t.match(wrongChain.err, /CHAIN_INVALID: the VCEK from --vcek .* is issued by "SEV-Milan", but --chain .*turin_chain\.pem holds "SEV-Turin"/);
  const vlekInstead = await run([...milan, '--vlek', V('vcek.der')]);
  t.equal(vlekInstead.rc, 2);
  t.match(vlekInstead.err, /signed by a VCEK, not a VLEK: pass the VCEK with --vcek/);
  const twoInVcek = await run([...milan, '--vcek', V('milan_chain.pem')]);
  t.match(twoInVcek.err, /--vcek .* holds 2 certificates; --vcek takes the one VCEK/);
  const missing = await run([...milan, '--vcek', join(dir, 'nope.der')]);
  t.equal(missing.rc, 1);
  t.match(missing.err, /INVALID_INPUT: --vcek .*nope\.der: cannot read the file \(ENOENT\)/);
});

t.test('--report-data and other usage errors exit 2', async (t) => {
  const snp = [...milan, '--vcek', V('vcek.der'), '--chain', V('milan_chain.pem')];
  for (const rd of ['', 'zz', 'abc', 'ab'.repeat(65), ' ']) {
    const r = await run([...snp, '--report-data', rd]);
    t.equal(r.rc, 2, `--report-data ${JSON.stringify(rd)}`);
    t.match(r.err, /INVALID_INPUT: --report-data must be 1 to 64 bytes of hex/);
  }
  const rd = JSON.parse((await run(snp)).out).claims.reportData as string;
  t.equal((await run([...snp, '--report-data', rd])).rc, 0, 'the right report data');
  t.equal((await run([...snp, '--report-data', `0x${rd.toUpperCase()}`])).rc, 0, '0x and upper case');
  const wrong = await run([...snp, '--report-data', 'ff'.repeat(64)]);
  t.equal(wrong.rc, 1);
  t.match(wrong.err, /report data: expected/);
  t.equal((await run(['--url', 'http://127.0.0.1:1', '--report-data', 'aa'])).rc, 2, '--report-data with --url');
  const noPlatform = await run(['--report', V('snp_report.bin')]);
  t.equal(noPlatform.rc, 2);
  t.match(noPlatform.err, /holds raw bytes: say which platform they are with --platform/);
  t.equal((await run(['--report', V('snp_report.bin'), '--platform', 'nope'])).rc, 2);
  t.match((await run(['--platform', 'tpm', '--report', V('tdx_v4.dat')])).err, /a raw TPM quote cannot be verified alone/);
  t.equal((await run([...snp, '--vlek', V('vcek.der')])).rc, 2, '--vcek with --vlek');
  const chainTdx = await run(['--platform', 'tdx', '--report', V('tdx_v4.dat'), '--chain', V('milan_chain.pem')]);
  t.equal(chainTdx.rc, 2);
  t.match(chainTdx.err, /--chain does not apply to tdx evidence: the PCK chain travels inside the DCAP quote/);
  t.equal((await run(['--platform', 'tdx', '--report', V('tdx_v4.dat'), '--vcek', V('vcek.der')])).rc, 2, '--vcek with tdx');
  t.equal((await run(['--url', 'http://127.0.0.1:1', '--vcek', V('vcek.der')])).rc, 2, '--vcek with --url');
  t.equal((await run(['--report', V('tdx_v4.dat'), '--evidence', V('tdx_v4.dat')])).rc, 2, 'two inputs');
});

t.test('--collateral DIR reaches the collateral provider', async (t) => {
  const coll = join(dir, 'collateral');
  mkdirSync(coll);
  const quote = ['--platform', 'tdx', '--report', V('phala_tdx.dat'), '--now', nowWithin(pemCerts(parseDcapQuote(vector('phala_tdx.dat')).cert.pckChainPem)).toISOString(), '--allow-unknown-tcb'];
  const without = await run(quote);
  t.equal(without.rc, 0, without.err);
  t.match(without.err, /tcb-status not checked: no collateral: TCB status Unknown/);
  // An empty directory: the directory provider is asked and has nothing for this FMSPC.
  const r = await run([...quote, '--collateral', coll]);
  t.equal(r.rc, 0, r.err);
  t.match(r.err, /tcb-status not checked: the collateral provider has no collateral for this platform: TCB status Unknown/);
  const notDir = await run([...quote, '--collateral', join(coll, 'absent')]);
  t.equal(notDir.rc, 2);
  t.match(notDir.err, /INVALID_INPUT: --collateral .*absent is not a directory/);
  t.equal((await run([...quote, '--collateral', coll, '--tcb-info', V('tdx_v4.dat')])).rc, 2, 'one collateral source');
});

t.test('trailing bytes are reported on stderr and in the output; raw DCAP and CSV files', async (t) => {
  const now = nowWithin(pemCerts(parseDcapQuote(vector('phala_tdx.dat')).cert.pckChainPem)).toISOString();
  const r = await run(['--platform', 'tdx', '--report', V('phala_tdx.dat'), '--now', now, '--allow-unknown-tcb']);
  t.equal(r.rc, 0, r.err);
  const out = JSON.parse(r.out) as { warnings: string[] };
  t.ok(out.warnings.includes('trailing-bytes: 70 bytes after the signature data are not signed (all zero); ignored'));
  t.match(r.err, /verify: warning: trailing-bytes: 70 bytes after the signature data are not signed/);
  const sgx = await run(['--platform', 'sgx', '--report', V('sgx_v3.dat'), '--now', nowWithin(pemCerts(parseDcapQuote(vector('sgx_v3.dat')).cert.pckChainPem)).toISOString(), '--allow-unknown-tcb', '--allow-debug']);
  t.equal(sgx.rc, 0, sgx.err);
  t.notMatch(sgx.err, /trailing-bytes/, 'none where there are none');

  const csv = ['--platform', 'csv', '--report', V('csv_report.cert'), '--allow-unknown-tcb'];
  const okCsv = await run([...csv, '--chain', V('hsk_cek.cert'), '--hygon-hrk', V('hrk.cert')]);
  t.equal(okCsv.rc, 0, okCsv.err);
  t.equal(JSON.parse(okCsv.out).claims.extra.chain, 'hrk');
  const noChain = await run(csv);
  t.equal(noChain.rc, 1);
  t.match(noChain.err, /TRUST_ANCHOR_MISSING: the HSK\/CEK of chip NZA9T14052605 are not available.*pass --chain with the chip's hsk_cek\.cert.*--csv-allow-pek-only/);
  t.match((await run([...csv, '--chain', V('hsk_cek.cert')])).err, /TRUST_ANCHOR_MISSING: .*pass --hygon-hrk/);
  t.match((await run([...csv, '--chain', V('hrk.cert'), '--hygon-hrk', V('hrk.cert')])).err, /EVIDENCE_MALFORMED: --chain .*hrk\.cert: for csv, --chain takes the chip's HSK\+CEK file/);
  t.equal((await run([...csv, '--csv-allow-pek-only'])).rc, 0, 'PEK only, when asked for');
});
