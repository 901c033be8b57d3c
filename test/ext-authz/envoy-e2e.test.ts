// ext-authz behind real Envoy: mTLS ingress with group leaves, the ext_authz
// filter configured as interface 1 says (failure_mode_allow false,
// include_peer_certificate true).
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { extAuthzBootstrap } from '../helpers/ext-authz.ts';
import { mtlsGet } from '../helpers/tls-groups.ts';
import { freePort } from '../../dev/free-port.ts';
import { startExtAuthz } from '../../ext-authz/start.ts';
import { groupUriPrefix } from '../../tls-groups/index.ts';
import { member, groupTrust, jwtIssuer, ISSUER, AUDIENCE } from './fixtures.ts';
import { adminToken } from '../helpers/admin-token.ts';

t.test('allowed, denied with a reason, revoked at once, fail closed when ext-authz dies', async (t) => {
  const trust = await groupTrust();
  const [server, bob, dave] = await Promise.all([member('carol'), member('bob'), member('dave')]);
  const admin = adminToken(t);
  const authz = await startExtAuthz({
    http: { tokenFile: admin.tokenFile },
    groups: [trust],
    policy: { rules: [{ name: 'hello', pathPrefix: '/hello', peers: { groups: [trust.groupId], parties: ['bob'] } }] },
    cache: { ttlMs: 30_000 },
  });
  let closed = false;
  t.teardown(() => (closed ? undefined : authz.close()));
  const upstream = await startUpstream(t);
  const port = await freePort();
  const envoy = await startEnvoy(t, { name: 'ext-authz', bootstrap: extAuthzBootstrap({ listenPort: port, upstreamPort: upstream.port, extAuthzPort: authz.grpcPort, tls: { certPem: server.certPem, keyPem: server.keyPem, caPem: server.caPem } }) });
  const prefix = groupUriPrefix(trust.groupId);
  const get = (m: { certPem: string; keyPem: string }, path = '/hello') => mtlsGet(port, path, { certPem: m.certPem, keyPem: m.keyPem, caPem: trust.caCertPem, expectServerUriPrefix: prefix });

  const ok = await get(bob);
  t.equal(ok.status, 200, 'bob allowed');
  t.equal(upstream.requests.at(-1)?.headers['x-aenv-party-id'], 'bob', 'app sees the authenticated party');
  t.equal(upstream.requests.at(-1)?.headers['x-aenv-group-id'], trust.groupId);

  const before = upstream.requests.length;
  const denied = await get(dave);
  t.equal(denied.status, 403, 'dave denied');
  t.same(JSON.parse(denied.body), { code: 'PARTY_NOT_ALLOWED', message: 'party dave may not call rule "hello"' });
  t.equal((await get(bob, '/other')).status, 403, 'no rule for /other');
  t.equal(upstream.requests.length, before, 'denied requests never reached the app');

  // cached allow, then revocation through the admin API: next request denied
  t.equal((await get(bob)).status, 200);
  const rv = await fetch(`http://127.0.0.1:${authz.httpPort}/v1/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', ...admin.headers }, body: JSON.stringify({ parties: ['bob'] }) });
  t.equal(rv.status, 200);
  const revoked = await get(bob);
  t.equal(revoked.status, 403, 'revoked immediately despite a 30 s cache TTL');
  t.equal(JSON.parse(revoked.body).code, 'REVOKED');
  const bad = await fetch(`http://127.0.0.1:${authz.httpPort}/v1/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', ...admin.headers }, body: JSON.stringify({ parties: ['a b'] }) });
  t.equal(bad.status, 400, 'bad revocation input refused');
  await fetch(`http://127.0.0.1:${authz.httpPort}/v1/revocations`, { method: 'DELETE', headers: { 'content-type': 'application/json', ...admin.headers }, body: JSON.stringify({ parties: ['bob'] }) });
  t.equal((await get(bob)).status, 200, 'un-revoked');

  const metrics = await (await fetch(`http://127.0.0.1:${authz.httpPort}/metrics`)).text();
  t.match(metrics, /aenv_ext_authz_decisions_total\{result="allow",code="OK"\} [1-9]/);
  t.match(metrics, /aenv_ext_authz_decisions_total\{result="deny",code="REVOKED"\} 1/);
  t.match(metrics, /aenv_ext_authz_cache_hits_total [1-9]/);

  // ext-authz gone: Envoy must fail closed
  await authz.close();
  closed = true;
  const n = upstream.requests.length;
  const dead = await get(bob);
  t.ok(dead.status === 403 || dead.status >= 500, `fail closed (status ${dead.status})`);
  t.equal(upstream.requests.length, n, 'nothing forwarded without a decision');
  t.ok(((await envoy.stat('http.ingress.ext_authz.error')) ?? 0) >= 1, 'Envoy counted the authz error');
  t.equal((await envoy.stat('http.ingress.ext_authz.failure_mode_allowed')) ?? 0, 0, 'never allowed on failure');
});

t.test('JWT bearer on a plaintext online ingress', async (t) => {
  const iss = await jwtIssuer();
  const jwksFile = join(mkdtempSync(join(tmpdir(), 'jwks-')), 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(iss.jwks));
  const authz = await startExtAuthz({
    jwt: { issuer: ISSUER, audience: AUDIENCE, jwksFile },
    policy: { rules: [{ name: 'api', pathPrefix: '/', jwt: true }, { name: 'attest', pathPrefix: '/.well-known/attestation', public: true }] },
  });
  t.teardown(() => authz.close());
  const upstream = await startUpstream(t);
  const port = await freePort();
  await startEnvoy(t, { name: 'ext-authz-jwt', bootstrap: extAuthzBootstrap({ listenPort: port, upstreamPort: upstream.port, extAuthzPort: authz.grpcPort }) });
  const url = `http://127.0.0.1:${port}`;
  const good = await fetch(`${url}/infer`, { headers: { authorization: `Bearer ${await iss.sign()}`, 'x-aenv-jwt-sub': 'forged', 'x-aenv-party-id': 'forged' } });
  t.equal(good.status, 200);
  t.equal(upstream.requests.at(-1)?.headers['x-aenv-jwt-sub'], 'user-1', 'sub from the verified token, client value overwritten');
  t.equal(upstream.requests.at(-1)?.headers['x-aenv-party-id'], undefined, 'forged identity header removed');
  const none = await fetch(`${url}/infer`);
  t.equal(none.status, 401);
  t.equal(none.headers.get('x-aenv-authz-code'), 'JWT_MISSING');
  const wrongAud = await fetch(`${url}/infer`, { headers: { authorization: `Bearer ${await iss.sign({}, { aud: 'x' })}` } });
  t.equal(wrongAud.status, 401);
  t.match(wrongAud.headers.get('x-aenv-authz-reason') ?? '', /aud/);
  t.equal((await fetch(`${url}/.well-known/attestation?nonce=abc`)).status, 200, 'public route needs no token');
});
