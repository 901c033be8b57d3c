// Key releases are fresh: the signed request carries {request_time, nonce}; a
// byte-identical replay is refused (REPLAYED), across a restart too (the nonce
// is in the store); a stale time and a missing freshness get clear codes; a CM
// configured for Trustflow's clients (freshness.required false) serves them.
import t from 'tap';
import { createPublicKey, randomBytes } from 'node:crypto';
import { ResourceRequest as ResourceRequestPb } from '../../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { certBinding, sealRequest } from '../../../capsule-manager/core/envelope.ts';
import { generatePartyKeys, startCapsuleManager } from '../../../capsule-manager/index.ts';
import { evidenceToUal } from '../../../platforms/index.ts';
import { startTestCapsuleManager } from '../../helpers/capsule-manager.ts';
import { join } from 'node:path';

t.test('replays, stale and missing freshness', async (t) => {
  const f = await startTestCapsuleManager(t);
  const alice = await generatePartyKeys('alice');
  const app = await generatePartyKeys('app');
  const A = f.client(alice);
  await A.registerCert();
  await A.createDataKeys([{ resource_uri: 'd1', data_key_b64: randomBytes(16).toString('base64') }]);
  await A.createDataPolicy({ data_uuid: 'd1', rules: [{ rule_id: 'r', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'read', constraints: [] }], global_constraints: [] }] });
  const appClient = f.client(app);
  await appClient.registerCert();
  t.equal((await appClient.getDataKeys({ initiator_party_id: app.partyId, scope: '', op_name: 'read', resources: [{ resource_uri: 'd1', columns: [], attrs: '' }], env: '', global_attrs: '' }, f.appAttester)).length, 1, 'the client sends freshness and gets the key');

  const cmKey = createPublicKey(f.cm.certPem);
  const rr = ResourceRequestPb.toJSON(ResourceRequestPb.fromJSON({ initiator_party_id: app.partyId, scope: '', op_name: 'read', resources: [{ resource_uri: 'd1', columns: [], attrs: '' }], env: '', global_attrs: '' }));
  const evidence = await f.appAttester.getEvidence(certBinding(app.certPem, ResourceRequestPb.encode(ResourceRequestPb.fromJSON(rr)).finish()));
  const body = (freshness?: unknown) => ({ cert: app.certPem, resource_request: rr, attestation_report: evidenceToUal(evidence), ...(freshness ? { freshness } : {}) });
  const signer = { privateKey: app.privateKey, certChainPem: [app.certPem] };
  const post = async (env: unknown) => {
    const r = await fetch(`http://127.0.0.1:${f.cm.httpPort}/api/v1/GetDataKeys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(env) });
    return { status: r.status, json: (await r.json()) as { code?: string; message?: string } };
  };
  const fresh = () => ({ request_time: new Date().toISOString(), nonce: randomBytes(18).toString('base64url') });

  const once = await sealRequest(body(fresh()), cmKey, signer);
  t.equal((await post(once)).status, 200, 'a fresh request is served');
  const again = await post(once);
  t.equal(again.status, 403, 'its byte-identical replay is refused');
  t.equal(again.json.code, 'REPLAYED');
  t.match(again.json.message, /already served.*replay is refused/);

  const none = await post(await sealRequest(body(), cmKey, signer));
  t.equal(none.json.code, 'FRESHNESS_REQUIRED', 'a request without freshness gets a clear code');
  t.match(none.json.message, /must carry freshness \{request_time, nonce\}.*freshness.required false/, 'naming the setting for clients that cannot send it');
  const stale = await post(await sealRequest(body({ request_time: new Date(Date.now() - 10 * 60_000).toISOString(), nonce: randomBytes(18).toString('base64url') }), cmKey, signer));
  t.equal(stale.json.code, 'STALE_REQUEST', 'a request from 10 minutes ago is stale');
  const weak = await post(await sealRequest(body({ request_time: new Date().toISOString(), nonce: 'short' }), cmKey, signer));
  t.equal(weak.json.code, 'INVALID_REQUEST', 'a short nonce is refused');

  // A refused request records nothing: its nonce is still usable by a correct request.
  const nonce = fresh();
  const unbound = await f.appAttester.getEvidence(Buffer.alloc(32, 7));
  const badReport = await post(await sealRequest({ ...body(nonce), attestation_report: evidenceToUal(unbound) }, cmKey, signer));
  t.equal(badReport.json.code, 'ATTESTATION_FAILED', 'evidence bound to something else is refused');
  t.equal((await post(await sealRequest(body(nonce), cmKey, signer))).status, 200, 'the refused request did not consume its nonce');

  const audit = (await (await fetch(`http://127.0.0.1:${f.cm.httpPort}/api/v1/audit/recent`)).json()) as { records: Array<{ decision: string; reason?: string }> };
  t.ok(audit.records.some((r) => r.decision === 'deny' && /replay is refused/.test(r.reason ?? '')), 'the replay is in the audit log as a denial');
});

t.test('a replay is refused after a restart; freshness.required false serves clients without it', async (t) => {
  const f = await startTestCapsuleManager(t);
  const alice = await generatePartyKeys('alice');
  const app = await generatePartyKeys('app');
  await f.client(alice).registerCert();
  await f.client(alice).createDataKeys([{ resource_uri: 'd1', data_key_b64: randomBytes(16).toString('base64') }]);
  await f.client(alice).createDataPolicy({ data_uuid: 'd1', rules: [{ rule_id: 'r', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'read', constraints: [] }], global_constraints: [] }] });
  const rr = ResourceRequestPb.toJSON(ResourceRequestPb.fromJSON({ initiator_party_id: app.partyId, scope: '', op_name: 'read', resources: [{ resource_uri: 'd1', columns: [], attrs: '' }], env: '', global_attrs: '' }));
  const evidence = await f.appAttester.getEvidence(certBinding(app.certPem, ResourceRequestPb.encode(ResourceRequestPb.fromJSON(rr)).finish()));
  const signer = { privateKey: app.privateKey, certChainPem: [app.certPem] };
  const env = await sealRequest({ cert: app.certPem, resource_request: rr, attestation_report: evidenceToUal(evidence), freshness: { request_time: new Date().toISOString(), nonce: randomBytes(18).toString('base64url') } }, createPublicKey(f.cm.certPem), signer);
  const post = async (port: number, e: unknown) => ((await (await fetch(`http://127.0.0.1:${port}/api/v1/GetDataKeys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(e) })).json()) as { code?: string });
  t.notOk((await post(f.cm.httpPort, env)).code, 'served once');
  await f.cm.close();
  // The same store and identity: the nonce was recorded durably.
  const cfg = (over: Record<string, unknown> = {}) => ({
    grpc: { port: 0 },
    http: { port: 0 },
    identityDir: join(f.dir, 'identity'),
    storage: { kind: 'file', dir: join(f.dir, 'store') },
    kek: { passphrase: 'test passphrase 123', scryptCost: 1024 },
    attestation: { self: 'sim', simKeyDir: join(f.dir, 'cm-sim'), require: true, allowInsecure: true, allowUnknownTcb: true, trustedSimKeys: [f.appAttester.simPublicKeyPem!] },
    logLevel: 'silent',
    ...over,
  });
  const cm2 = await startCapsuleManager(cfg());
  t.teardown(() => cm2.close());
  t.equal((await post(cm2.httpPort, env)).code, 'REPLAYED', 'the replay is refused by the restarted CM');
  await cm2.close();
  const lax = await startCapsuleManager(cfg({ freshness: { required: false } }));
  t.teardown(() => lax.close());
  const noFreshness = await sealRequest({ cert: app.certPem, resource_request: rr, attestation_report: evidenceToUal(evidence) }, createPublicKey(f.cm.certPem), signer);
  t.notOk((await post(lax.httpPort, noFreshness)).code, 'a CM with freshness.required false serves a Trustflow-style request');
});
