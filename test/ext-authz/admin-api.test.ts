// Admin API over real HTTP: trust a group at runtime, revocations, bad input
// changes nothing.
import t from 'tap';
import { startExtAuthz } from '../../ext-authz/start.ts';
import { member, groupTrust } from './fixtures.ts';

t.test('groups and revocations at runtime', async (t) => {
  const trust = await groupTrust();
  const authz = await startExtAuthz({ policy: { rules: [{ name: 'all', pathPrefix: '/', peers: { groups: ['*'] } }] } });
  t.teardown(() => authz.close());
  const api = `http://127.0.0.1:${authz.httpPort}`;
  const json = (method: string, body: unknown) => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
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

  t.equal((await fetch(`${api}/v1/groups/${trust.groupId}`, { method: 'DELETE' })).status, 200);
  t.equal((await fetch(`${api}/v1/groups/${trust.groupId}`, { method: 'DELETE' })).status, 404);
  t.equal(await check(), 'NOT_A_MEMBER', 'untrusted again');
  t.equal((await fetch(`${api}/health`)).status, 200);
});
