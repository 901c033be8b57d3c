// The HTTP JSON API serves the same operations (OpenAPI published, gRPC reflection).
import { createPublicKey } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { grpcurlBin } from '../../../dev/toolchain.ts';
import t from 'tap';
import { openResponse, sealRequest } from '../../../capsule-manager/core/envelope.ts';
import { generatePartyKeys } from '../../../capsule-manager/core/party-keys.ts';
import { startTestCapsuleManager } from '../../helpers/capsule-manager.ts';

const alice = await generatePartyKeys('alice');
const signer = { privateKey: alice.privateKey, certChainPem: [alice.certPem] };

t.test('HTTP JSON API: OpenAPI, GetRaCert, encrypted operations, clear errors', async (t) => {
  const f = await startTestCapsuleManager(t, { audit: false });
  const base = `http://127.0.0.1:${f.cm.httpPort}`;
  const spec = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
  t.match(spec.openapi, /^3\./);
  for (const op of ['GetRaCert', 'RegisterCert', 'CreateDataKeys', 'GetDataKeys', 'GetTlsAsset', 'CreateResultDataKey', 'GetExportDataKey', 'ListDataPolicy']) t.ok(spec.paths[`/api/v1/${op}`], `${op} documented`);
  // gRPC reflection: grpcurl sees the secretflowapis service
  // async: a synchronous child would block this process's own gRPC server
  const { stdout: services } = await promisify(execFile)(grpcurlBin(), ['-plaintext', `127.0.0.1:${f.cm.grpcPort}`, 'list'], { encoding: 'utf8', timeout: 20_000 });
  t.match(services, /secretflowapis\.v2\.sdc\.capsule_manager\.CapsuleManager/);
  const ra = (await (await fetch(`${base}/api/v1/GetRaCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: 'abc' }) })).json()) as { cert: string; attestation_report: { str_tee_platform: string } };
  t.equal(ra.cert, f.cm.certPem);
  t.equal(ra.attestation_report.str_tee_platform, 'SIM');
  const cmKey = createPublicKey(ra.cert);
  const post = async (op: string, body: unknown) => {
    const sealed = await sealRequest(body, cmKey, signer);
    return fetch(`${base}/api/v1/${op}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: sealed.message, has_signature: true }) });
  };
  let r = await post('RegisterCert', { owner_party_id: alice.partyId, certs: [alice.certPem], scheme: 'RSA' });
  t.equal(r.status, 200);
  r = await post('CreateDataPolicy', { owner_party_id: alice.partyId, policy: { data_uuid: 'h1', rules: [{ rule_id: 'x', grantee_party_ids: ['B'], columns: ['*'], op_constraints: [{ op_name: 'PSI' }] }] } });
  t.equal(r.status, 200);
  r = await post('ListDataPolicy', { owner_party_id: alice.partyId });
  const body = (await r.json()) as { message: never; has_signature: { message: string } };
  t.equal(body.has_signature.message, 'success', 'status under its secretflowapis v2 JSON name');
  const listed = (await openResponse(body.message, alice.privateKey)) as { policies: Array<{ data_uuid: string }> };
  t.same(listed.policies.map((p) => p.data_uuid), ['h1']);
  r = await post('CreateDataKeys', { owner_party_id: 'SOMEONEELSE', data_keys: [] });
  t.equal(r.status, 403);
  t.match(await r.json(), { code: 'NOT_OWNER' });
  r = await fetch(`${base}/api/v1/GetDataKeys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { protected: 'x' } }) });
  t.equal(r.status, 400, 'schema: ciphertext missing');
  r = await fetch(`${base}/api/v1/GetDataKeys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { protected: 'eyJ9', ciphertext: 'AAAA', iv: 'x', tag: 'y', encrypted_key: 'z' } }) });
  t.equal(r.status, 400);
  t.match(await r.json(), { code: 'BAD_ENVELOPE' });
});

