// Admin API over real HTTP: trust a group at runtime, revocations, bad input
// changes nothing; every change needs the bearer token, even on loopback.
import t from 'tap';
import { startExtAuthz } from '../../ext-authz/start.ts';
import { adminToken } from '../helpers/admin-token.ts';
import { member, groupTrust } from './fixtures.ts';

t.test('groups and revocations at runtime', async (t) => {
  const trust = await groupTrust();
  const admin = adminToken(t);
  const authz = await startExtAuthz({ http: { tokenFile: admin.tokenFile }, policy: { rules: [{ name: 'all', pathPrefix: '/', peers: { groups: ['*'] } }] } });
  t.teardown(() => authz.close());
  const api = `http://127.0.0.1:${authz.httpPort}`;
  const json = (method: string, body: unknown) => ({ method, headers: { 'content-type': 'application/json', ...admin.headers }, body: JSON.stringify(body) });
  const bob = await member('bob');
  const check = async () => (await authz.authorizer.check({ path: '/x', method: 'GET', peerCertPem: bob.certPem })).decision.code;

  t.equal(await check(), 'NOT_A_MEMBER', 'group not trusted yet');
  const bad = await fetch(`${api}/v1/groups/${trust.groupId}`, json('PUT', { caCertPem: 'not a cert' }));
  t.equal(bad.status, 400);
  t.equal(((await bad.json()) as { code: string }).code, 'BAD_GROUP_CA');
  t.same(await (await fetch(`${api}/v1/groups`)).json(), { groups: [] }, 'bad CA changed nothing');
  t.equal((await fetch(`${api}/v1/groups/${trust.groupId}`, json('PUT', { caCertPem: trust.caCertPem }))).status, 200);
  t.equal(await check(), 'OK', 'trusted at runtime');

  const r = await fetch(`${api}/v1/revocations`, json('POST', { parties: ['bob'], fingerprints: ['nothex'] }));
  t.equal(r.status, 400, 'one bad entry refuses the whole change');
  t.same(((await (await fetch(`${api}/v1/revocations`)).json()) as { parties: string[] }).parties, []);
  t.equal(await check(), 'OK');
  t.equal((await fetch(`${api}/v1/revocations`, json('POST', { parties: [`${trust.groupId}/bob`] }))).status, 200);
  t.equal(await check(), 'REVOKED');

  t.equal((await fetch(`${api}/v1/groups/${trust.groupId}`, { method: 'DELETE', headers: admin.headers })).status, 200);
  t.equal((await fetch(`${api}/v1/groups/${trust.groupId}`, { method: 'DELETE', headers: admin.headers })).status, 404);
  t.equal(await check(), 'NOT_A_MEMBER', 'untrusted again');
  t.equal((await fetch(`${api}/health`)).status, 200);
});

t.test('without the token nobody trusts a CA or drops a revocation, and nothing changes', async (t) => {
  const trust = await groupTrust();
  const admin = adminToken(t);
  const authz = await startExtAuthz({ http: { tokenFile: admin.tokenFile }, groups: [], revoked: { parties: [`${trust.groupId}/eve`] }, policy: { rules: [{ name: 'all', pathPrefix: '/', peers: { groups: ['*'] } }] } });
  t.teardown(() => authz.close());
  const api = `http://127.0.0.1:${authz.httpPort}`;
  const attempts: Array<[string, string, unknown]> = [
    ['PUT', `/v1/groups/${trust.groupId}`, { caCertPem: trust.caCertPem }],
    ['DELETE', '/v1/revocations', { parties: [`${trust.groupId}/eve`] }],
    ['POST', '/v1/revocations', { parties: [`${trust.groupId}/bob`] }],
  ];
  for (const [method, path, body] of attempts) {
    for (const auth of [undefined, 'Bearer not-the-token-at-all', `Basic ${admin.token}`]) {
      const r = await fetch(`${api}${path}`, { method, headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify(body) });
      t.equal(r.status, 401, `${method} ${path} with ${auth ? auth.split(' ')[0] : 'no'} credential: 401`);
      t.equal(((await r.json()) as { code: string }).code, 'ADMIN_UNAUTHENTICATED');
    }
  }
  t.same(await (await fetch(`${api}/v1/groups`)).json(), { groups: [] }, 'no CA trusted');
  t.same(((await (await fetch(`${api}/v1/revocations`)).json()) as { parties: string[] }).parties, [`${trust.groupId}/eve`], 'the revocation stands, none added');

  // No token configured: changes are disabled, reads still work on loopback.
  const bare = await startExtAuthz({ policy: { rules: [] } });
  t.teardown(() => bare.close());
  const r = await fetch(`http://127.0.0.1:${bare.httpPort}/v1/groups/${trust.groupId}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ caCertPem: trust.caCertPem }) });
  t.equal(r.status, 403);
  t.match(await r.json(), { code: 'ADMIN_DISABLED', message: /http\.tokenFile/ });
  t.equal((await fetch(`http://127.0.0.1:${bare.httpPort}/v1/groups`)).status, 200);
  await t.rejects(startExtAuthz({ http: { tokenFile: `${admin.dir}/missing` } }), { code: 'TOKEN_FILE_INVALID' }, 'an unreadable token file starts nothing');
});
