// GroupSdsProvider behaviour that the e2e test cannot force cheaply: the
// renewal schedule, retry with backoff after transient CM failures, refusal of
// assets that do not match the requested key, and denial handling. The asset
// source here is a small in-process issuer built on the real derivation (the
// real CM path is covered by interact-example.test.ts).
import t from 'tap';
import { renewalDelayMs, retryDelayMs, DEFAULT_RENEWAL } from '../../tls-groups/core/renewal-schedule.ts';
import { GroupSdsProvider, type TlsAssetRequest } from '../../control-plane/transport/group-sds-provider.ts';
import { issueGroupTlsAsset } from '../../tls-groups/index.ts';
import { DATA_KEY, SIM_CLAIMS, EVIDENCE_DIGEST, p256 } from '../tls-groups/fixtures.ts';

t.test('renewal schedule', async (t) => {
  const nb = new Date('2026-01-01T00:00:00Z');
  const na = new Date('2026-01-01T01:00:00Z');
  t.equal(renewalDelayMs(nb, na, nb), 40 * 60_000, 'renew at 2/3 of the lifetime');
  t.equal(renewalDelayMs(nb, na, new Date('2026-01-01T00:50:00Z')), 0, 'overdue: now');
  t.equal(retryDelayMs(1, undefined, nb), DEFAULT_RENEWAL.minRetryMs);
  t.equal(retryDelayMs(4, undefined, nb), DEFAULT_RENEWAL.minRetryMs * 8, 'exponential');
  t.equal(retryDelayMs(30, undefined, nb), DEFAULT_RENEWAL.maxRetryMs, 'capped');
  t.equal(retryDelayMs(30, new Date(nb.getTime() + 20_000), nb), 5_000, 'near expiry: at most a quarter of the time left');
});

function issuer(behaviour: { fail?: number; deny?: boolean; wrongKey?: boolean }) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    async getTlsAsset(rr: TlsAssetRequest) {
      calls++;
      if (behaviour.fail && calls <= behaviour.fail) throw Object.assign(new Error('capsule manager call failed: unavailable'), { code: 'STORE_UNAVAILABLE', kind: 'unavailable' });
      if (behaviour.deny) throw Object.assign(new Error('request is not satisfied with the policy'), { code: 'POLICY_DENIED', kind: 'permission_denied' });
      const subject = behaviour.wrongKey ? p256().publicKeyPem : (JSON.parse(rr.global_attrs) as { subject_public_key_pem: string }).subject_public_key_pem;
      const a = await issueGroupTlsAsset({ dataKey: DATA_KEY, scope: rr.scope, dataUuid: rr.resources[0]!.resource_uri, partyId: rr.initiator_party_id, subjectPublicKeyPem: subject, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST, validitySeconds: 60 });
      return { cert: a.leafCertPem, private_key: '', ca_cert: a.caCertPem };
    },
  };
}

function sink() {
  const set: Array<[string, string]> = [];
  return { set, secrets: { set: (name: string, s: object) => set.push([name, 'trustedCa' in s ? 'ca' : 'cert']) } };
}

t.test('retries transient failures with backoff, then serves CA before cert', async (t) => {
  const src = issuer({ fail: 2 });
  const out = sink();
  const p = new GroupSdsProvider({ partyId: 'bob', source: src, secrets: out.secrets, groups: [{ name: 'g', resourceUri: 'd', certSecret: 'c', caSecret: 'ca' }], renewal: { minRetryMs: 20 } });
  t.teardown(() => p.stop());
  await t.rejects(p.start(), /unavailable/);
  t.equal(p.status()[0]?.state, 'failing');
  const deadline = Date.now() + 10_000;
  while (p.status()[0]?.state !== 'active' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(src.calls, 3, 'two retries');
  t.equal(p.status()[0]?.state, 'active');
  t.same(out.set, [['ca', 'ca'], ['c', 'cert']], 'trust bundle first, then the leaf');
});

t.test('refuses a certificate for a different key; denial stops renewal and is reported', async (t) => {
  const wrong = new GroupSdsProvider({ partyId: 'bob', source: issuer({ wrongKey: true }), secrets: sink().secrets, groups: [{ name: 'g', resourceUri: 'd', certSecret: 'c', caSecret: 'ca' }] });
  t.teardown(() => wrong.stop());
  await t.rejects(wrong.start(), /certified a different key/);
  const denials: string[] = [];
  const out = sink();
  const denied = new GroupSdsProvider({ partyId: 'bob', source: issuer({ deny: true }), secrets: out.secrets, groups: [{ name: 'g', resourceUri: 'd', certSecret: 'c', caSecret: 'ca' }], onDenied: (e) => denials.push(e.reason) });
  t.teardown(() => denied.stop());
  await t.rejects(denied.start(), { code: 'POLICY_DENIED' });
  t.equal(denied.status()[0]?.state, 'denied');
  t.same(denials, ['request is not satisfied with the policy']);
  t.same(out.set, [], 'nothing served');
  t.throws(() => new GroupSdsProvider({ partyId: 'x', source: issuer({}), secrets: sink().secrets, groups: [{ name: 'g', resourceUri: 'd', certSecret: 'c', caSecret: 'ca' }, { name: 'g', resourceUri: 'e', certSecret: 'c', caSecret: 'ca' }] }), /twice/);
});

t.test('renews by itself before expiry', async (t) => {
  const rotated: string[] = [];
  const p = new GroupSdsProvider({ partyId: 'bob', source: issuer({}), secrets: sink().secrets, groups: [{ name: 'g', resourceUri: 'd', certSecret: 'c', caSecret: 'ca' }], renewal: { fraction: 0.01 }, onRotated: (e) => rotated.push(e.serial) });
  t.teardown(() => p.stop());
  await p.start();
  await new Promise((r) => setTimeout(r, 2500));
  t.ok(rotated.length >= 2, `renewed on schedule (${rotated.length} leaves in 2.5 s with a 60 s lifetime at 1%)`);
  t.equal(new Set(rotated).size, rotated.length, 'each renewal is a new certificate');
});
