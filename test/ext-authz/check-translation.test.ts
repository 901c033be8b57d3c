import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckRequest, CheckResponse } from '../../proto/gen/envoy/service/auth/v3/external_auth.ts';
import { toAuthzInput, toCheckResponse } from '../../ext-authz/core/check-translation.ts';
import { allow, deny } from '../../ext-authz/core/decision.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
function golden(name: string, value: unknown): unknown {
  const p = join(GOLDEN, name);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(p)) writeFileSync(p, text);
  return JSON.parse(readFileSync(p, 'utf8'));
}

t.test('CheckRequest -> input: URL-encoded peer PEM, path, method, authorization', async (t) => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB+/=\n-----END CERTIFICATE-----\n';
  const req = CheckRequest.fromPartial({
    attributes: {
      source: { certificate: encodeURIComponent(pem) },
      request: { http: { path: '/hello?x=1', method: 'POST', headers: { authorization: 'Bearer a.b.c', host: 'x' } } },
    },
  });
  t.same(toAuthzInput(req), { path: '/hello?x=1', method: 'POST', peerCertPem: pem, authorization: 'Bearer a.b.c' });
  t.same(toAuthzInput(CheckRequest.fromPartial({})), { path: '/', method: 'TCP' }, 'no HTTP attributes: a TCP connection check');
  t.same(toAuthzInput(CheckRequest.fromPartial({ attributes: { request: { http: {} } } })), { path: '', method: '' }, 'empty HTTP attributes: matches no rule');
  t.equal(toAuthzInput(CheckRequest.fromPartial({ attributes: { source: { certificate: '%E0%A4%A' } } })).peerCertPem, '%E0%A4%A', 'bad encoding is kept, never dropped');
});

t.test('decision -> CheckResponse (golden)', async (t) => {
  const ok = CheckResponse.toJSON(CheckResponse.fromPartial(toCheckResponse(allow('hello', { groupId: 'g'.repeat(32), partyId: 'bob' }))));
  t.same(ok, golden('allow.json', ok));
  const denied = CheckResponse.toJSON(CheckResponse.fromPartial(toCheckResponse(deny('PARTY_NOT_ALLOWED', 'party dave may not call rule "hello"', 'hello'))));
  t.same(denied, golden('deny-403.json', denied));
  const unauth = CheckResponse.toJSON(CheckResponse.fromPartial(toCheckResponse(deny('JWT_MISSING', 'rule "api" requires a bearer token\nx', 'api'))));
  t.same(unauth, golden('deny-401.json', unauth));
  t.notMatch(JSON.stringify(unauth), /requires a bearer token\\nx"[^}]*x-aenv-authz-reason/, 'reason header has no control characters');
});
