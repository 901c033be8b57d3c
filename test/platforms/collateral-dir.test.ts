// The offline collateral directory and `aenv collateral fetch`: a local HTTP
// server on 127.0.0.1 serves the public collateral vectors in the PCCS / Intel
// PCS v4 API shape (issuer chains in percent-encoded headers, CRLs as DER or
// hex); the fetch verifies and writes the directory, and
// createCollateralDirProvider then decides the TCB status of the real quotes.
import t, { type Test } from 'tap';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collateralMain, createCollateralDirProvider, createEvidenceVerifier, writeCollateralDir, COLLATERAL_FORMAT, type PlatformName } from '../../platforms/index.ts';
import { parseCrl } from '../../platforms/core/dcap/crl.ts';
import { captureOutput } from '../helpers/capture-output.ts';
import { collateralWindow, goTdxGuestCollateral, pccsRoutes, phalaCollateral } from './collateral-vectors.ts';
import { vector, VECTORS } from './vectors.ts';

const TDX = phalaCollateral('tdx_quote_collateral.json');
const SGX = phalaCollateral('sgx_quote_collateral.json');
const NOW = collateralWindow({ ...TDX, tcbInfos: [...TDX.tcbInfos, ...SGX.tcbInfos], qeIdentities: [...TDX.qeIdentities!, ...SGX.qeIdentities!], pckCrls: [...TDX.pckCrls!, ...SGX.pckCrls!] }).inside;

type Route = { headers: Record<string, string>; body: Buffer };

async function serve(routes: Map<string, Route>, t: Test): Promise<{ url: string; seen: string[]; server: Server }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const r = routes.get(req.url ?? '');
    if (!r) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, r.headers).end(r.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, seen, server };
}

/** The PCCS of June 2025 with the dcap-qvl samples: TDX FMSPC b0c06f000000 (platform CA), SGX FMSPC 00a067110000 (processor CA). */
function pccs(): Map<string, Route> {
  const routes = pccsRoutes([
    { o: TDX, tee: 'tdx', fmspc: 'b0c06f000000', ca: 'platform' },
    { o: SGX, tee: 'sgx', fmspc: '00a067110000', ca: 'processor' },
  ]);
  routes.set('/sgx/certification/v4/fmspcs', { headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify([{ fmspc: 'B0C06F000000', platform: 'E5' }, { fmspc: '00A067110000', platform: 'E3' }])) });
  return routes;
}

const run = async (args: string[]) => {
  const c = await captureOutput(() => collateralMain(args));
  return { rc: c.value, out: c.out, err: c.err };
};

const verifyDir = (dir: string, file: string, platform: PlatformName, now = NOW, opts = {}) => createEvidenceVerifier({ collateral: createCollateralDirProvider(dir, opts) }).verify({ platform, quote: vector(file) }, { now });

t.test('collateral fetch from a PCCS, then the directory decides the TCB status', async (t) => {
  const srv = await serve(pccs(), t);
  const dir = join(mkdtempSync(join(tmpdir(), 'coll-')), 'intel');
  const r = await run(['fetch', '--out', dir, '--pccs', srv.url, '--quote', join(VECTORS, 'phala_tdx.dat'), '--quote', join(VECTORS, 'phala_sgx.dat'), '--now', NOW.toISOString()]);
  t.equal(r.rc, 0, r.err);
  t.match(r.out, /verified and written to/);
  t.match(r.out, /tcb-info +TDX FMSPC b0c06f000000/);
  t.match(r.out, /no TCB Info for sgx b0c06f000000/);
  t.match(r.out, /no TCB Info for tdx 00a067110000/);
  const manifest = JSON.parse(readFileSync(join(dir, 'collateral.json'), 'utf8'));
  t.match(manifest, { format: COLLATERAL_FORMAT, source: srv.url, fmspcs: ['00a067110000', 'b0c06f000000'], update: 'standard' });
  for (const f of ['root-ca-crl.der', 'pck-crl-platform.der', 'pck-crl-platform-issuer-chain.pem', 'pck-crl-processor.der', 'pck-crl-processor-issuer-chain.pem', 'sgx/qe-identity.json', 'sgx/qe-identity-issuer-chain.pem', 'tdx/qe-identity.json', 'tdx/qe-identity-issuer-chain.pem', 'tdx/tcb/b0c06f000000.json', 'tdx/tcb/b0c06f000000-issuer-chain.pem', 'sgx/tcb/00a067110000.json', 'sgx/tcb/00a067110000-issuer-chain.pem']) {
    t.ok(existsSync(join(dir, f)), `${f} written`);
  }
  // bodies kept byte for byte; the hex root CA CRL stored as DER
  t.equal(readFileSync(join(dir, 'tdx/tcb/b0c06f000000.json'), 'utf8'), TDX.tcbInfos[0]!.tcbInfoJson);
  t.same(readFileSync(join(dir, 'root-ca-crl.der')), parseCrl(TDX.rootCaCrl!).der);
  t.ok(srv.seen.includes('/sgx/certification/v4/rootcacrl'), 'the PCCS root CA CRL endpoint');

  const tdx = await verifyDir(dir, 'phala_tdx.dat', 'tdx');
  t.equal(tdx.tcb.status, 'UpToDate');
  t.same(
    tdx.checks.filter((c) => ['crl', 'qe-identity-collateral', 'tdx-module-identity', 'tcb-info', 'tcb-status'].includes(c.check)).map((c) => [c.check, c.result]),
    [['crl', 'pass'], ['qe-identity-collateral', 'pass'], ['tcb-status', 'pass'], ['tdx-module-identity', 'pass'], ['tcb-info', 'pass']],
  );
  const sgx = await verifyDir(dir, 'phala_sgx.dat', 'sgx');
  t.equal(sgx.tcb.status, 'ConfigurationAndSWHardeningNeeded');
  t.equal(sgx.extra?.tcb_advisories, 'INTEL-SA-00289,INTEL-SA-00615');
  // an FMSPC the directory has no TCB Info for: Unknown, its CRLs still checked
  const other = await verifyDir(dir, 'tr_tdx_quote_5.dat', 'tdx');
  t.equal(other.tcb.status, 'Unknown');
  t.match(other.checks.find((c) => c.check === 'crl'), { result: 'pass' });
  // expired collateral
  await t.rejects(verifyDir(dir, 'phala_tdx.dat', 'tdx', new Date('2025-08-01')), { code: 'COLLATERAL_EXPIRED' });

  // show
  const show = await run(['show', dir, '--now', NOW.toISOString()]);
  t.equal(show.rc, 0, show.err);
  t.match(show.out, /from http:\/\/127\.0\.0\.1:\d+, fetched .*FMSPCs 00a067110000 b0c06f000000/);
  t.match(show.out, /qe-identity +TD_QE/);
  t.match(show.out, /root-ca-crl +Intel SGX Root CA/);
  t.match(show.out, /valid until 2025-07-19T10:00:35\.000Z/);
  const late = await run(['show', dir, '--now', '2025-08-01T00:00:00Z']);
  t.equal(late.rc, 1);
  t.match(late.err, /COLLATERAL_EXPIRED/);

  // the directory is read at each verification: a file removed or restored applies at once
  const provider = createCollateralDirProvider(dir);
  const v = createEvidenceVerifier({ collateral: provider });
  const qe = join(dir, 'tdx/qe-identity.json');
  renameSync(qe, `${qe}.away`);
  await t.rejects(v.verify({ platform: 'tdx', quote: vector('phala_tdx.dat') }, { now: NOW }), { code: 'COLLATERAL_INVALID', message: /incomplete for TDX FMSPC b0c06f000000: missing the TD_QE QE Identity/ });
  const partial = await verifyDir(dir, 'phala_tdx.dat', 'tdx', NOW, { allowPartial: true });
  t.equal(partial.tcb.status, 'UpToDate');
  t.match(partial.checks.find((c) => c.check === 'qe-identity-collateral'), { result: 'not-checked' });
  renameSync(`${qe}.away`, qe);
  t.equal((await v.verify({ platform: 'tdx', quote: vector('phala_tdx.dat') }, { now: NOW })).tcb.status, 'UpToDate', 'restored');
  // a body without its chain, an edited body
  const chain = join(dir, 'tdx/tcb/b0c06f000000-issuer-chain.pem');
  renameSync(chain, `${chain}.away`);
  await t.rejects(v.verify({ platform: 'tdx', quote: vector('phala_tdx.dat') }, { now: NOW }), { code: 'COLLATERAL_INVALID', message: /has no tdx\/tcb\/b0c06f000000-issuer-chain\.pem/ });
  renameSync(`${chain}.away`, chain);
  const body = join(dir, 'tdx/tcb/b0c06f000000.json');
  const text = readFileSync(body, 'utf8');
  writeFileSync(body, text.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18'));
  await t.rejects(v.verify({ platform: 'tdx', quote: vector('phala_tdx.dat') }, { now: NOW }), { code: 'COLLATERAL_INVALID', message: /signature/ });
  writeFileSync(body, text);
  // no directory at all: configured collateral must be there
  await t.rejects(verifyDir(join(dir, 'nope'), 'phala_tdx.dat', 'tdx'), { code: 'COLLATERAL_INVALID', message: /is missing/ });
});

t.test('collateral fetch: FMSPCs from the service list, Intel PCS shape, failures', async (t) => {
  const routes = pccs();
  // PCS: the Root CA CRL at Intel's CRL distribution point (DER), not under the API
  routes.set('/IntelSGXRootCA.der', { headers: { 'content-type': 'application/pkix-crl' }, body: parseCrl(TDX.rootCaCrl!).der });
  const srv = await serve(routes, t);
  const base = mkdtempSync(join(tmpdir(), 'coll-'));
  const listed = await run(['fetch', '--out', join(base, 'listed'), '--pccs', srv.url, '--now', NOW.toISOString()]);
  t.equal(listed.rc, 0, listed.err);
  t.ok(srv.seen.includes('/sgx/certification/v4/fmspcs'), 'asked the service for its FMSPCs');
  t.same(JSON.parse(readFileSync(join(base, 'listed', 'collateral.json'), 'utf8')).fmspcs, ['00a067110000', 'b0c06f000000']);

  srv.seen.length = 0;
  const pcs = await run(['fetch', '--out', join(base, 'pcs'), '--pcs-url', srv.url, '--root-ca-crl-url', `${srv.url}/IntelSGXRootCA.der`, '--fmspc', 'B0C06F000000', '--tee', 'tdx', '--now', NOW.toISOString()]);
  t.equal(pcs.rc, 0, pcs.err);
  t.ok(srv.seen.includes('/IntelSGXRootCA.der') && !srv.seen.includes('/sgx/certification/v4/rootcacrl'), 'PCS: root CA CRL from its distribution point');
  t.notOk(srv.seen.some((u) => u.startsWith('/sgx/certification/v4/qe/identity')), '--tee tdx: no SGX QE Identity');
  t.equal((await verifyDir(join(base, 'pcs'), 'phala_tdx.dat', 'tdx')).tcb.status, 'UpToDate');

  // what the service sends is verified before anything is written
  const tampered = pccs();
  const key = '/tdx/certification/v4/tcb?fmspc=b0c06f000000&update=standard';
  const r = tampered.get(key)!;
  tampered.set(key, { ...r, body: Buffer.from(r.body.toString('utf8').replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18')) });
  const bad = await serve(tampered, t);
  const badDir = join(base, 'bad');
  const b = await run(['fetch', '--out', badDir, '--pccs', bad.url, '--fmspc', 'b0c06f000000', '--now', NOW.toISOString()]);
  t.equal(b.rc, 1);
  t.match(b.err, /COLLATERAL_INVALID: .*TCB Info .*signature/);
  t.notOk(existsSync(badDir), 'nothing written');
  const expired = await run(['fetch', '--out', badDir, '--pccs', srv.url, '--fmspc', 'b0c06f000000', '--now', '2025-08-01T00:00:00Z']);
  t.equal(expired.rc, 1);
  t.match(expired.err, /COLLATERAL_EXPIRED/);
  // a service without the FMSPC, an unreachable one
  const none = await run(['fetch', '--out', badDir, '--pccs', srv.url, '--fmspc', '00906ed50000', '--now', NOW.toISOString()]);
  t.equal(none.rc, 1);
  t.match(none.err, /has TCB Info for none of 00906ed50000/);
  const closed = await serve(new Map(), t);
  await new Promise<void>((resolve) => closed.server.close(() => resolve()));
  const down = await run(['fetch', '--out', badDir, '--pccs', closed.url, '--fmspc', 'b0c06f000000']);
  t.equal(down.rc, 1);
  t.match(down.err, /COLLATERAL_UNAVAILABLE: collateral fetch: GET http:\/\/127\.0\.0\.1:\d+\/sgx\/certification\/v4\/pckcrl/);
  t.notOk(existsSync(badDir));
  // usage
  t.equal((await run(['fetch', '--pccs', srv.url])).rc, 2, 'no --out');
  t.equal((await run(['fetch', '--out', badDir])).rc, 2, 'no service');
  t.equal((await run(['fetch', '--out', badDir, '--pccs', srv.url, '--pcs'])).rc, 2, 'two services');
  t.equal((await run(['fetch', '--out', badDir, '--pccs', srv.url, '--tee', 'sev'])).rc, 2);
  t.equal((await run(['nope'])).rc, 2);
  t.equal((await run(['--help'])).rc, 0);
  t.equal((await run(['show'])).rc, 2);
  rmSync(base, { recursive: true, force: true });
});

t.test('a directory written from go-tdx-guest\'s PCS samples (June 2023)', async (t) => {
  const g = goTdxGuestCollateral();
  const dir = mkdtempSync(join(tmpdir(), 'coll-'));
  const files = await writeCollateralDir(dir, {
    manifest: { format: COLLATERAL_FORMAT, source: 'go-tdx-guest testdata', fetchedAt: '2023-06-20T00:00:00Z', fmspcs: ['50806f000000'] },
    rootCaCrl: parseCrl(g.rootCaCrl!).der,
    pckCrls: { platform: { crl: parseCrl(g.pckCrls![0]!.crl).der, issuerChainPem: g.pckCrls![0]!.issuerChainPem } },
    qeIdentities: { tdx: { json: g.qeIdentities![0]!.qeIdentityJson, issuerChainPem: g.qeIdentities![0]!.issuerChainPem } },
    tcbInfos: [{ tee: 'tdx', fmspc: '50806f000000', json: g.tcbInfos[0]!.tcbInfoJson, issuerChainPem: g.tcbInfos[0]!.issuerChainPem }],
  });
  t.equal(files.length, 8);
  t.notOk(readdirSync(dir, { recursive: true }).some((f) => String(f).includes('.tmp-')), 'no temporary files left');
  const now = collateralWindow(g).inside;
  t.equal((await verifyDir(dir, 'tr_tdx_quote_4.dat', 'tdx', now)).tcb.status, 'UpToDate');
  await t.rejects(verifyDir(dir, 'tdx_v4.dat', 'tdx', now), { code: 'TCB_NOT_SUPPORTED' });
  // SGX quotes: no TCB Info for their FMSPCs here
  await t.rejects(verifyDir(dir, 'phala_sgx.dat', 'sgx', now), { code: 'CERT_NOT_YET_VALID' }, 'its PCK is from September 2023');
  const sgx = await verifyDir(dir, 'sgx_v3.dat', 'sgx', now);
  t.equal(sgx.tcb.status, 'Unknown');
  t.match(sgx.checks.find((c) => c.check === 'crl'), { result: 'pass' }, 'its PCK (Platform CA) is checked against the CRLs');
  t.match(sgx.checks.find((c) => c.check === 'tcb-info'), { result: 'not-checked', detail: /SGX FMSPC 00606a000000/ });
  rmSync(dir, { recursive: true, force: true });
});
