import t from 'tap';
import { Authorizer } from '../../ext-authz/core/authorizer.ts';
import { createJwtVerifier } from '../../ext-authz/transport/jwt-verifier.ts';
import { RevocationList } from '../../ext-authz/core/revocation-list.ts';
import type { PolicyRule } from '../../ext-authz/config.ts';
import { deriveSharedGroupAsset } from '../../tls-groups/index.ts';
import { member, groupTrust, GROUP, jwtIssuer, ISSUER, AUDIENCE } from './fixtures.ts';

async function setup(extra: Partial<ConstructorParameters<typeof Authorizer>[0]> = {}) {
  const trust = await groupTrust();
  const rules: PolicyRule[] = [
    { name: 'hello', pathPrefix: '/hello', public: false, jwt: false, peers: { groups: [trust.groupId], parties: ['bob', 'carol'], allowShared: false } },
    { name: 'admin', pathPrefix: '/hello/admin', methods: ['POST'], public: false, jwt: false, peers: { groups: ['*'], parties: ['carol'], allowShared: false } },
    { name: 'attest', pathPrefix: '/.well-known/attestation', public: true, jwt: false },
    { name: 'shared', pathPrefix: '/legacy', public: false, jwt: false, peers: { groups: ['*'], parties: ['*'], allowShared: true } },
  ];
  const a = new Authorizer({ rules, groups: [trust], ...extra });
  return { a, trust };
}

t.test('members, parties, groups, paths', async (t) => {
  const { a, trust } = await setup();
  const bob = await member('bob');
  const dave = await member('dave');
  const stranger = await member('bob', { dataKey: Buffer.alloc(32, 5) });
  const d = async (path: string, peerCertPem?: string, method = 'GET') => (await a.check({ path, method, ...(peerCertPem ? { peerCertPem } : {}) })).decision;

  const ok = await d('/hello/world?q=1', bob.certPem);
  t.same([ok.allow, ok.code, ok.rule, ok.identity], [true, 'OK', 'hello', { groupId: trust.groupId, partyId: 'bob', platform: 'sim' }]);
  t.same(await d('/hello', dave.certPem).then((x) => [x.allow, x.code, x.httpStatus]), [false, 'PARTY_NOT_ALLOWED', 403]);
  t.match((await d('/hello', dave.certPem)).reason, /party dave may not call rule "hello"/);
  t.equal((await d('/hello', stranger.certPem)).code, 'NOT_A_MEMBER', 'other group (other data key) is not trusted');
  t.equal((await d('/hello')).code, 'NO_PEER_CERT');
  t.equal((await d('/hello', 'garbage')).code, 'BAD_PEER_CERT');
  t.equal((await d('/nothing', bob.certPem)).code, 'NO_RULE', 'no rule: deny (fail closed)');
  t.equal((await d('/.well-known/attestation?nonce=x')).code, 'OK', 'public rule');
  t.equal((await d('/hello/admin', bob.certPem, 'POST')).code, 'PARTY_NOT_ALLOWED', 'longest prefix + method picks admin rule');
  t.equal((await d('/hello/admin', bob.certPem, 'GET')).code, 'OK', 'GET falls back to the hello rule');
  const shared = await deriveSharedGroupAsset(GROUP);
  t.equal((await d('/hello', shared.certPem)).code, 'SHARED_NOT_ALLOWED');
  t.equal((await d('/legacy', shared.certPem)).code, 'OK');
});

t.test('expiry uses the clock; cache entries end at the certificate notAfter', async (t) => {
  let now = Date.parse('2026-06-01T12:00:00Z');
  const { a } = await setup({ now: () => now, cache: { maxEntries: 100, ttlMs: 60_000 } });
  const bob = await member('bob', { validitySeconds: 60, now: new Date(now) });
  t.equal((await a.check({ path: '/hello', method: 'GET', peerCertPem: bob.certPem })).decision.code, 'OK');
  now += 30_000;
  t.equal((await a.check({ path: '/hello', method: 'GET', peerCertPem: bob.certPem })).cached, true, 'cached within TTL');
  now += 31_000;
  const r = await a.check({ path: '/hello', method: 'GET', peerCertPem: bob.certPem });
  t.same([r.cached, r.decision.code], [false, 'CERT_EXPIRED'], 'expired leaf is re-checked and denied despite the long TTL');
});

t.test('revocation takes effect on the next request (cache cleared)', async (t) => {
  const revocations = new RevocationList();
  const { a, trust } = await setup({ revocations, cache: { maxEntries: 100, ttlMs: 60_000 } });
  const bob = await member('bob');
  const carol = await member('carol');
  const req = (m: { certPem: string }) => a.check({ path: '/hello', method: 'GET', peerCertPem: m.certPem });
  t.equal((await req(bob)).decision.code, 'OK');
  t.equal((await req(bob)).cached, true);
  revocations.apply({ addParties: ['bob'] });
  const r = await req(bob);
  t.same([r.cached, r.decision.code, r.decision.reason], [false, 'REVOKED', 'party bob is revoked']);
  t.equal((await req(carol)).decision.code, 'OK', 'others unaffected');
  revocations.apply({ removeParties: ['bob'], addParties: [`${trust.groupId}/carol`] });
  t.equal((await req(bob)).decision.code, 'OK', 'un-revoked');
  t.equal((await req(carol)).decision.code, 'REVOKED', 'group-scoped revocation');
  const fp = (await import('node:crypto')).createHash('sha256').update(Buffer.from(bob.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).digest('hex');
  revocations.apply({ addFingerprints: [fp] });
  t.equal((await req(bob)).decision.code, 'REVOKED', 'certificate fingerprint revocation');
  t.throws(() => revocations.apply({ addParties: ['ok'], addFingerprints: ['xyz'] }), { code: 'BAD_REVOCATION' });
  t.notOk(revocations.snapshot().parties.includes('ok'), 'bad change applied nothing');
});

t.test('cache is bounded', async (t) => {
  const { a } = await setup({ cache: { maxEntries: 3, ttlMs: 60_000 } });
  for (let i = 0; i < 10; i++) await a.check({ path: `/nothing/${i}`, method: 'GET' });
  t.equal(a.cache.size, 3);
});

t.test('JWT rules (online ingress)', async (t) => {
  const iss = await jwtIssuer();
  const jwt = createJwtVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: iss.jwks, algorithms: ['ES256'], clockToleranceSeconds: 0 });
  const a = new Authorizer({ rules: [{ name: 'api', pathPrefix: '/', public: false, jwt: true }], groups: [], jwt });
  const d = async (authorization?: string) => (await a.check({ path: '/infer', method: 'POST', ...(authorization ? { authorization } : {}) })).decision;
  const ok = await d(`Bearer ${await iss.sign()}`);
  t.same([ok.code, ok.identity?.jwtSub], ['OK', 'user-1']);
  t.same([(await d()).code, (await d()).httpStatus], ['JWT_MISSING', 401]);
  t.equal((await d('Basic abc')).code, 'JWT_MISSING');
  t.match(await d(`Bearer ${await iss.sign({}, { iss: 'https://evil' })}`), { code: 'JWT_INVALID', reason: /iss/ });
  t.match(await d(`Bearer ${await iss.sign({}, { aud: 'other' })}`), { code: 'JWT_INVALID', reason: /aud/ });
  t.match(await d(`Bearer ${await iss.sign({}, { expSeconds: -10 })}`), { code: 'JWT_INVALID', reason: /exp/ });
  const other = await jwtIssuer();
  t.match(await d(`Bearer ${await other.sign()}`), { code: 'JWT_INVALID', reason: /signature/ });
  t.throws(() => new Authorizer({ rules: [{ name: 'api', pathPrefix: '/', public: false, jwt: true }], groups: [] }), { code: 'BAD_POLICY' }, 'jwt rule without verifier');
});

t.test('policy validation reports every error at once', async (t) => {
  t.throws(() => new Authorizer({
    rules: [
      { name: 'x', pathPrefix: '/a', public: false, jwt: false },
      { name: 'x', pathPrefix: '/b', public: true, jwt: true },
    ],
    groups: [],
  }), { code: 'BAD_POLICY', message: /needs public[\s\S]*duplicate name[\s\S]*public excludes/ });
  t.throws(() => new Authorizer({ rules: [], groups: [{ groupId: 'a'.repeat(32), caCertPem: 'nope' }] }), { code: 'BAD_GROUP_CA' });
});
