import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEphemeralAppIdentity } from '../../platforms/index.ts';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { verifyAttestationDocument, verifyRaCertResponse } from '../../platforms/catalog/verify-attestation.ts';
import { RaProxyClient, type GetRaCertResponse } from '../../proto/gen/secretflowapis/v2/sdc/ra_proxy/ra_proxy.ts';
import { UnifiedAttestationReport } from '../../proto/gen/secretflowapis/v2/sdc/ual.ts';
import { startRaProxy } from '../../ra-proxy/start.ts';
import { silentLogger } from '../../foundation/logger.ts';

const MR = '11'.repeat(32);

t.test('ra-proxy serves verifiable, nonce-bound reports over HTTP and gRPC', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ra-'));
  const identity = await createEphemeralAppIdentity();
  const rp = await startRaProxy(
    { platform: 'sim', sim: { keyDir: join(dir, 'sim'), measurements: { mr_enclave: MR } }, nonce: { replayWindowSeconds: 60, maxEntries: 3 } },
    { identity, logger: silentLogger },
  );
  t.teardown(() => rp.close());
  const base = `http://127.0.0.1:${rp.httpPort}`;
  const simKey = await (await fetch(`${base}/.well-known/sim-key`)).text();
  t.equal(simKey, rp.simPublicKeyPem);
  const verifier = createEvidenceVerifier({ trustedSimKeys: [simKey] });
  const policy = { measurements: { mr_enclave: MR }, allowInsecure: true };

  t.same(await (await fetch(`${base}/health`)).json(), { status: 'ok' });

  // Trustflow GetRaCert
  const r1 = await fetch(`${base}/RaProxy/GetRaCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: 'abc123' }) });
  t.equal(r1.status, 200);
  const body = (await r1.json()) as Record<string, any>;
  t.same(body.status, { code: 0, message: 'success' });
  t.equal(body.attestation_report.str_tee_platform, 'SIM');
  t.equal(body.attestation_report.str_report_type, 'Passport');
  const v1 = await verifyRaCertResponse(body, { nonce: 'abc123', policy, verifier });
  t.equal(v1.certPem, identity.certPem);
  t.ok(v1.publicKey.equals(identity.keys.rsa.publicKey));
  await t.rejects(verifyRaCertResponse(body, { nonce: 'other', policy, verifier }), { code: 'REPORT_DATA_MISMATCH' });
  await t.rejects(verifyRaCertResponse(body, { nonce: 'abc123', policy: { ...policy, measurements: { mr_enclave: '22'.repeat(32) } }, verifier }), { code: 'POLICY_REJECTED' });

  // replay
  const r2 = await fetch(`${base}/RaProxy/GetRaCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: 'abc123' }) });
  t.equal(r2.status, 409);
  t.match(await r2.json(), { status: { code: grpc.status.ALREADY_EXISTS }, code: 'NONCE_REPLAYED' });

  // attestation document
  const d = await fetch(`${base}/.well-known/attestation?nonce=n-1_x`);
  t.equal(d.status, 200);
  t.equal(d.headers.get('cache-control'), 'no-store');
  const doc = (await d.json()) as Record<string, any>;
  t.same(Object.keys(doc).sort(), ['binding', 'cert', 'evidence', 'jwks', 'nonce']);
  const got = await verifyAttestationDocument(doc, { nonce: 'n-1_x', policy, verifier });
  t.equal(got.keySetDigest.toString('hex'), identity.keySetDigest.toString('hex'));
  t.same(got.jwks, identity.jwks());
  await t.rejects(verifyAttestationDocument(doc, { nonce: 'n-2', policy, verifier }), { code: 'DOCUMENT_INVALID' });
  const other = await createEphemeralAppIdentity();
  await t.rejects(verifyAttestationDocument({ ...doc, jwks: other.jwks() }, { nonce: 'n-1_x', policy, verifier }), { code: 'DOCUMENT_INVALID' }, 'swapped keys break the binding');
  await t.rejects(verifyAttestationDocument({ ...doc, cert: other.certPem }, { nonce: 'n-1_x', policy, verifier }), { code: 'DOCUMENT_INVALID' });
  await t.rejects(verifyAttestationDocument(doc, { nonce: 'n-1_x', policy: { measurements: { mr_enclave: MR } }, verifier }), { code: 'POLICY_REJECTED' }, 'insecure sim rejected without allowInsecure');

  // POST form, nonce rules
  const p = await fetch(`${base}/.well-known/attestation`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: 'post-1' }) });
  t.equal(p.status, 200);
  for (const [q, code] of [
    ['', 'NONCE_MISSING'],
    ['?nonce=', 'NONCE_MISSING'],
    [`?nonce=${'a'.repeat(129)}`, 'NONCE_TOO_LONG'],
    ['?nonce=a%20b', 'NONCE_INVALID'],
    ['?nonce=a.b', 'NONCE_INVALID'],
    ['?nonce=n-1_x', 'NONCE_REPLAYED'],
  ] as const) {
    const r = await fetch(`${base}/.well-known/attestation${q}`);
    t.equal(((await r.json()) as { code: string }).code, code, `${q || '(none)'} -> ${code}`);
  }
  // capacity of 3 live nonces reached (abc123, n-1_x, post-1): fail closed
  const full = await fetch(`${base}/.well-known/attestation?nonce=fresh`);
  t.equal(full.status, 429);

  // gRPC
  const client = new RaProxyClient(`127.0.0.1:${rp.grpcPort}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const call = (nonce: string) =>
    new Promise<GetRaCertResponse>((resolve, reject) => client.getRaCert({ header: undefined, nonce, refreshRaReport: false }, (e, r) => (e ? reject(e) : resolve(r!))));
  await t.rejects(call('grpc-1'), { code: grpc.status.RESOURCE_EXHAUSTED });
});

t.test('gRPC GetRaCert round trip and verify', async (t) => {
  const identity = await createEphemeralAppIdentity();
  const rp = await startRaProxy({ platform: 'sim', sim: { keyDir: join(mkdtempSync(join(tmpdir(), 'ra-')), 'sim') } }, { identity, logger: silentLogger });
  t.teardown(() => rp.close());
  const client = new RaProxyClient(`127.0.0.1:${rp.grpcPort}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const call = (nonce: string) =>
    new Promise<GetRaCertResponse>((resolve, reject) => client.getRaCert({ header: undefined, nonce, refreshRaReport: true }, (e, r) => (e ? reject(e) : resolve(r!))));
  // reflection: grpcurl sees the Trustflow service name
  // (async: the server lives in this process, a blocking exec would starve it)
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { grpcurlBin } = await import('../../dev/toolchain.ts');
  const run = async (args: string[]) => (await promisify(execFile)(grpcurlBin(), args, { encoding: 'utf8' })).stdout;
  const listed = await run(['-plaintext', `127.0.0.1:${rp.grpcPort}`, 'list']);
  t.match(listed, /secretflowapis\.v2\.sdc\.ra_proxy\.RaProxy/);
  const viaGrpcurl = JSON.parse(await run(['-plaintext', '-d', '{"nonce":"grpcurl-1"}', `127.0.0.1:${rp.grpcPort}`, 'secretflowapis.v2.sdc.ra_proxy.RaProxy/GetRaCert']));
  t.equal(viaGrpcurl.attestation_report.str_tee_platform, 'SIM', 'json names are snake_case on the wire');
  const r = await call('g1');
  t.equal(r.status?.code, 0);
  const json = { status: r.status, cert: r.cert, attestation_report: UnifiedAttestationReport.toJSON(r.attestationReport!) };
  const v = await verifyRaCertResponse(json, { nonce: 'g1', policy: { allowInsecure: true }, verifier: createEvidenceVerifier({ trustedSimKeys: [rp.simPublicKeyPem!] }) });
  t.equal(v.claims.platform, 'sim');
  await t.rejects(call('g1'), { code: grpc.status.ALREADY_EXISTS });
  await t.rejects(call(''), { code: grpc.status.INVALID_ARGUMENT });
  // sim key is not published when disabled
  const rp2 = await startRaProxy({ platform: 'sim', publishSimKey: false, grpc: { enabled: false }, sim: { keyDir: join(mkdtempSync(join(tmpdir(), 'ra-')), 'sim') } }, { identity, logger: silentLogger });
  t.teardown(() => rp2.close());
  t.equal((await fetch(`http://127.0.0.1:${rp2.httpPort}/.well-known/sim-key`)).status, 404);
  await t.rejects(startRaProxy({ platform: 'nope' }, { identity, logger: silentLogger }), { code: 'CONFIG_INVALID' });
  await t.rejects(startRaProxy({ platform: 'tpm', attester: { tpmPcrs: [24] } }, { identity, logger: silentLogger }), { code: 'CONFIG_INVALID' });
  await t.rejects(startRaProxy({ platform: 'auto', attesterRoot: mkdtempSync(join(tmpdir(), 'none-')) }, { identity, logger: silentLogger }), { code: 'NO_PLATFORM' }, 'no TEE and no allowSim: refuse to start');
});
