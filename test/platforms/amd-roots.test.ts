// The bundled AMD certificates (platforms/plugins/sev-snp/roots/): each is listed
// in its PROVENANCE.md with the SHA-256 of its DER, each ARK is the pinned one,
// each ASK/ASVK is signed by its ARK; and the verifier completes VCEK -> ASK ->
// ARK and VLEK -> ASVK -> ARK with them when the evidence carries only the VEK
// (Milan, Genoa, Turin VCEK vectors and the Milan VLEK vector), while an ARK in
// the evidence that is not pinned is refused.
import t from 'tap';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { x509 } from '../../foundation/x509.ts';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { AMD_ARK_SHA256, amdBundledCerts } from '../../platforms/plugins/sev-snp/amd-roots.ts';
import { AMD_BUNDLED_CERTS } from '../../platforms/plugins/sev-snp/roots/amd-certs.ts';
import { buildCertTable } from '../../platforms/plugins/sev-snp/cert-table.ts';
import type { Evidence } from '../../platforms/core/types.ts';
import { flip, nowExpired, nowWithin, pemCerts, vector, vectorText } from './vectors.ts';

const ROOTS = join(PROJECT_ROOT, 'platforms', 'plugins', 'sev-snp', 'roots');

/** The SNP report inside Azure's HCL report (32-byte HCL header first), from trustee's az-snp-vtpm Genoa evidence. */
function genoaReport(): Buffer {
  const ev = JSON.parse(vectorText('az-snp-genoa-evidence.json')) as { report: number[] };
  const hcl = Buffer.from(ev.report);
  if (hcl.subarray(0, 4).toString('latin1') !== 'HCLA') throw new Error('not an HCL report');
  return hcl.subarray(32, 32 + 1184);
}

t.test('bundled AMD certificates: provenance rows, pinned ARKs, ASK/ASVK signed by their ARK', async (t) => {
  const table = readFileSync(join(ROOTS, 'PROVENANCE.md'), 'utf8');
  const rows = new Map<string, { source: string; version: string; licence: string; der: string }>();
  for (const line of table.split('\n')) {
    const c = line.split('|').map((x) => x.trim());
    // | certificate | what | package or project | version | path | licence | `sha256 (DER)` | `sha256 (source file)` |
    if (c.length !== 10 || !/^`[0-9a-f]{64}`$/.test(c[7]!)) continue;
    rows.set(c[1]!, { source: c[3]!, version: c[4]!, licence: c[5]!, der: c[7]!.slice(1, -1) });
  }
  t.equal(AMD_BUNDLED_CERTS.length, 9, 'ARK, ASK and ASVK of Milan, Genoa, Turin');
  t.same([...rows.keys()].sort(), AMD_BUNDLED_CERTS.map((b) => `${b.product.toLowerCase()}-${b.role}`).sort(), 'one row per bundled certificate');
  const parsed = amdBundledCerts();
  for (const b of AMD_BUNDLED_CERTS) {
    const name = `${b.product.toLowerCase()}-${b.role}`;
    const cert = new X509Certificate(b.pem);
    const der = createHash('sha256').update(cert.raw).digest('hex');
    t.equal(der, b.sha256, `${name}: its table entry has its DER's SHA-256`);
    t.equal(rows.get(name)?.der, der, `${name}: PROVENANCE.md has its DER's SHA-256`);
    t.ok(rows.get(name)!.licence && rows.get(name)!.version && rows.get(name)!.source, `${name}: source, version, licence named`);
    const ark = parsed.find((p) => p.product === b.product && p.role === 'ark')!.cert;
    t.equal(createHash('sha256').update(ark.raw).digest('hex'), AMD_ARK_SHA256[b.product], `${name}: its ARK is the pinned one`);
    t.ok(cert.checkIssued(ark) && cert.verify(ark.publicKey), `${name}: signed by ARK-${b.product}`);
    const cn = /CN=([^\n]+)/.exec(cert.subject)![1];
    t.equal(cn, b.role === 'ark' ? `ARK-${b.product}` : b.role === 'ask' ? `SEV-${b.product}` : `SEV-VLEK-${b.product}`, `${name}: subject`);
  }
  // the ASK and ARK in the go-sev-guest / trustee chains are the bundled ones
  for (const [file, product] of [['milan_chain.pem', 'Milan'], ['turin_chain.pem', 'Turin']] as const) {
    const [ask, ark] = pemCerts(vectorText(file));
    t.equal(ask!.fingerprint256, parsed.find((p) => p.product === product && p.role === 'ask')!.cert.fingerprint256, `${file}: ASK is the bundled one`);
    t.equal(ark!.fingerprint256, parsed.find((p) => p.product === product && p.role === 'ark')!.cert.fingerprint256, `${file}: ARK is the bundled one`);
  }
});

const VCEK_ONLY = [
  { name: 'Milan v2 (go-sev-guest)', report: () => vector('snp_report.bin'), vek: () => vector('vcek.der'), product: 'Milan', version: 2 },
  { name: 'Milan v2 (trustee)', report: () => vector('test-report.bin'), vek: () => vector('t-vcek.der'), product: 'Milan', version: 2 },
  { name: 'Turin v5', report: () => vector('turin.bin'), vek: () => vector('turin-vcek.der'), product: 'Turin', version: 5 },
  { name: 'Genoa v3 (Azure)', report: genoaReport, vek: () => new X509Certificate(vector('vcek-genoa.pem')).raw, product: 'Genoa', version: 3 },
];

t.test('evidence with only the VCEK: the chain is completed with the bundled ASK and ARK', async (t) => {
  const v = createEvidenceVerifier();
  for (const c of VCEK_ONLY) {
    const vek = new X509Certificate(c.vek());
    const bundled = amdBundledCerts().filter((b) => b.product === c.product && b.role !== 'asvk').map((b) => b.cert);
    const now = nowWithin([vek, ...bundled]);
    const quote = new Uint8Array(c.report());
    // as configfs-tsm delivers it on a host whose table holds only the VCEK, and as aux.vcek
    for (const aux of [{ cert_table: buildCertTable({ vcek: vek.raw }).toString('base64') }, { vcek: vek.raw.toString('base64') }] as Array<Record<string, string>>) {
      const claims = await v.verify({ platform: 'sev-snp', quote, aux }, { now });
      t.equal(claims.extra?.product, c.product, `${c.name}: product`);
      t.equal(claims.extra?.report_version, c.version, `${c.name}: report version`);
      t.equal(claims.extra?.signing_key, 'vcek');
      t.match(claims.checks.find((x) => x.check === 'cert-chain')?.detail, new RegExp(`SEV-VCEK <- SEV-${c.product} <- ARK-${c.product}`), `${c.name}: chain VCEK <- ASK <- ARK`);
    }
    const ev: Evidence = { platform: 'sev-snp', quote, aux: { vcek: vek.raw.toString('base64') } };
    await t.rejects(v.verify({ ...ev, quote: flip(quote, 0x90) }, { now }), { code: 'SIGNATURE_INVALID' }, `${c.name}: flipped measurement byte`);
    await t.rejects(v.verify(ev, { now: nowExpired([vek]) }), { code: 'CERT_EXPIRED' }, `${c.name}: expired VCEK`);
  }
});

t.test('the Genoa vector (Azure SEV-SNP, report v3)', async (t) => {
  const vek = new X509Certificate(vector('vcek-genoa.pem'));
  const now = nowWithin([vek]);
  const claims = await createEvidenceVerifier().verify({ platform: 'sev-snp', quote: genoaReport(), aux: { vcek: vek.raw.toString('base64') } }, { now });
  t.match(claims, { platform: 'sev-snp', debug: false, extra: { product: 'Genoa', report_version: 3, vmpl: 0 }, tcb: { svn: { bootloader: 10, tee: 0, snp: 23, microcode: 84 } } });
  t.equal(claims.measurements.measurement, 'f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae');
  // a Milan VCEK cannot stand in for the Genoa one
  await t.rejects(createEvidenceVerifier().verify({ platform: 'sev-snp', quote: genoaReport(), aux: { vcek: vector('vcek.der').toString('base64') } }, { now }), { code: 'SIGNATURE_INVALID' });
});

t.test('VLEK report: VLEK -> ASVK (SEV-VLEK-Milan, bundled) -> ARK-Milan', async (t) => {
  const vlek = new X509Certificate(vector('t-vlek.der'));
  const now = nowWithin([vlek]);
  const quote = vector('test-vlek-report.bin');
  const v = createEvidenceVerifier();
  for (const aux of [{ vlek: vlek.raw.toString('base64') }, { cert_table: buildCertTable({ vlek: vlek.raw }).toString('base64') }] as Array<Record<string, string>>) {
    const claims = await v.verify({ platform: 'sev-snp', quote, aux }, { now });
    t.match(claims.extra, { signing_key: 'vlek', product: 'Milan', report_version: 3 });
    t.match(claims.checks.find((x) => x.check === 'cert-chain')?.detail, /SEV-VLEK <- SEV-VLEK-Milan <- ARK-Milan/);
  }
  await t.rejects(v.verify({ platform: 'sev-snp', quote: flip(quote, 0x90), aux: { vlek: vlek.raw.toString('base64') } }, { now }), { code: 'SIGNATURE_INVALID' });
  await t.rejects(v.verify({ platform: 'sev-snp', quote, aux: { vlek: vlek.raw.toString('base64') } }, { now: nowExpired([vlek]) }), { code: 'CERT_EXPIRED' });
  // the ASK (VCEK signer) does not sign VLEKs: given only it and no bundled ASVK would do, the chain fails
  const milanAsk = amdBundledCerts().find((b) => b.product === 'Milan' && b.role === 'ask')!.cert;
  t.notOk(vlek.verify(milanAsk.publicKey), 'the Milan ASK does not sign the VLEK');
});

t.test('an ARK in the evidence that is not pinned is refused; a pinned one must sign the ASK', async (t) => {
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const fakeArk = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=ARK-Milan',
    keys,
    signingAlgorithm: alg,
    notBefore: new Date('2020-01-01'),
    notAfter: new Date('2045-01-01'),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const vek = vector('vcek.der');
  const [ask, ark] = pemCerts(vectorText('milan_chain.pem'));
  const now = nowWithin([new X509Certificate(vek), ask!, ark!]);
  const quote = vector('snp_report.bin');
  const v = createEvidenceVerifier();
  await t.rejects(v.verify({ platform: 'sev-snp', quote, aux: { vcek: vek.toString('base64'), ask: ask!.toString(), ark: fakeArk.toString('pem') } }, { now }), { code: 'UNTRUSTED_ROOT', message: /ARK "ARK-Milan" .* is not a pinned AMD ARK/ });
  await t.rejects(v.verify({ platform: 'sev-snp', quote, aux: { vcek: vek.toString('base64'), ark: fakeArk.toString('pem') } }, { now }), { code: 'UNTRUSTED_ROOT' }, 'also when the ASK is the bundled one');
  const table = buildCertTable({ vcek: vek, ark: Buffer.from(fakeArk.rawData) });
  await t.rejects(v.verify({ platform: 'sev-snp', quote, aux: { cert_table: table.toString('base64') } }, { now }), { code: 'UNTRUSTED_ROOT' }, 'in the cert table too');
  // configured, the same certificate is an anchor (it still has to sign the ASK)
  await t.rejects(createEvidenceVerifier({ amdArkPems: [fakeArk.toString('pem')] }).verify({ platform: 'sev-snp', quote, aux: { vcek: vek.toString('base64'), ark: fakeArk.toString('pem') } }, { now }), { code: 'CHAIN_INVALID' });
  // a pinned ARK of another product in the evidence does not sign the Milan ASK
  const [, turinArk] = pemCerts(vectorText('turin_chain.pem'));
  await t.rejects(v.verify({ platform: 'sev-snp', quote, aux: { vcek: vek.toString('base64'), ark: turinArk!.toString() } }, { now }), { code: 'CHAIN_INVALID' });
});
