// Release sessions, the pure parts: the replay window against a plain model
// (a set of every seq ever accepted), the session table's expiry, eviction and
// release count, and the session messages against jose ("dir" + A256GCM both
// ways; every header or byte changed is refused).
import t from 'tap';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { FlattenedEncrypt, flattenedDecrypt } from 'jose';
import { REPLAY_WINDOW, ReplayWindow } from '../../../capsule-manager/core/session/replay-window.ts';
import { ReleaseSessionTable } from '../../../capsule-manager/core/session/table.ts';
import { openSessionMessage, sealSessionMessage, sessionHeaderOf } from '../../../capsule-manager/core/session/envelope.ts';
import { CmError } from '../../../capsule-manager/errors.ts';
import { checkProperty } from '../../fuzz/fuzz-config.ts';

t.test('replay window: each seq once, late ones within the window, older ones never', async (t) => {
  const w = new ReplayWindow();
  t.equal(w.take(5), 'ok');
  t.equal(w.take(5), 'replayed', 'the same seq twice');
  t.equal(w.take(3), 'ok', 'an earlier seq arriving late');
  t.equal(w.take(3), 'replayed');
  t.equal(w.take(5 + REPLAY_WINDOW), 'ok', 'a jump forward');
  t.equal(w.take(5), 'too-old', 'now below the window');
  t.equal(w.take(6), 'ok', 'the lowest seq still inside the window');
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) t.equal(new ReplayWindow().take(bad), 'too-old', `seq ${bad} is refused`);

  // Model: accepted iff never accepted before and within REPLAY_WINDOW of the highest accepted.
  await checkProperty(
    t,
    'replay window matches its model',
    [fc.array(fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 40 })), { maxLength: 400 })],
    (seqs) => {
      const win = new ReplayWindow();
      const seen = new Set<number>();
      let top = 0;
      for (const s of seqs) {
        const want = seen.has(s) && top - s < REPLAY_WINDOW ? 'replayed' : top - s >= REPLAY_WINDOW ? 'too-old' : 'ok';
        const got = win.take(s);
        if (got !== want) throw new Error(`seq ${s} (top ${top}): ${got}, model ${want}`);
        if (got === 'ok') {
          seen.add(s);
          top = Math.max(top, s);
        }
      }
    },
    { runs: 300 },
  );
});

t.test('session table: expiry, the cert bound, eviction, release count', async (t) => {
  let now = 1_000_000;
  const table = new ReleaseSessionTable({ maxTtlSeconds: 60, maxSessions: 2, maxSessionsPerParty: 2, maxReleases: 3 }, () => now);
  const open = (over: { ttlSeconds?: number; certNotAfter?: number } = {}) => table.open({ partyId: 'p', claims: undefined, certNotAfter: now + 3_600_000, ...over });
  const a = open({ ttlSeconds: 600 });
  t.equal(a.expiresAt, now + 60_000, "the CM's maxTtlSeconds caps the app's wish");
  t.equal(open({ certNotAfter: now + 5_000 }).expiresAt, now + 5_000, "no session outlives its cert");
  t.throws(() => open({ certNotAfter: now }), CmError, 'a cert already past its notAfter opens nothing');
  t.equal(table.size, 2);
  const c = open();
  t.equal(table.size, 2, 'a full table evicts');
  t.throws(() => table.use(a.id), { code: 'SESSION_UNKNOWN' }, 'the oldest one');
  t.ok(a.key.equals(Buffer.alloc(32)), "and zeroes its key");
  t.equal(table.use(c.id), c);
  t.equal(c.take(1), 'ok');
  t.equal(c.take(2), 'ok');
  t.equal(c.take(2), 'replayed', 'a replay does not count');
  t.equal(c.take(3), 'ok');
  t.equal(c.take(4), 'exhausted', 'maxReleases');
  now += 60_000;
  t.throws(() => table.use(c.id), { code: 'SESSION_EXPIRED' }, 'past its expiry');
  t.throws(() => table.use(c.id), { code: 'SESSION_UNKNOWN' }, 'and then forgotten');
  t.throws(() => table.use('x'.repeat(22)), { code: 'SESSION_UNKNOWN' });
  const d = open();
  now += 61_000;
  t.equal(table.sweep(), 2, 'sweep forgets the expired ones');
  t.ok(d.key.equals(Buffer.alloc(32)));
  const e = open();
  table.clear();
  t.equal(table.size, 0);
  t.ok(e.key.equals(Buffer.alloc(32)), 'clear zeroes every key');
});

t.test('one party cannot evict the sessions of another', async (t) => {
  const table = new ReleaseSessionTable({ maxTtlSeconds: 60, maxSessions: 10, maxSessionsPerParty: 3, maxReleases: 3 });
  const open = (partyId: string) => table.open({ partyId, claims: undefined, certNotAfter: Date.now() + 3_600_000 });
  const victim = open('victim');
  const mallory = Array.from({ length: 50 }, () => open('mallory'));
  t.equal(table.use(victim.id), victim, "50 opens by one party leave another party's session alone");
  t.equal(table.size, 4, 'the party holds at most its 3');
  for (const m of mallory.slice(0, 47)) t.throws(() => table.use(m.id), { code: 'SESSION_UNKNOWN' });
  for (const m of mallory.slice(47)) t.equal(table.use(m.id), m, 'its newest 3 live');
  table.end(victim.id);
  t.equal(table.size, 3);
});

t.test('session messages are RFC 7516 dir/A256GCM JWEs: jose opens ours, we open jose\'s', async (t) => {
  const key = randomBytes(32);
  const kid = randomBytes(16).toString('base64url');
  const payload = { resource_request: { initiator_party_id: 'p', resources: [{ resource_uri: 'd1' }] } };
  const ours = sealSessionMessage(key, { kid, seq: 7 }, 'aenv-release-request', payload);
  const opened = await flattenedDecrypt({ protected: ours.protected, iv: ours.iv, ciphertext: ours.ciphertext, tag: ours.tag }, key);
  t.same(JSON.parse(new TextDecoder().decode(opened.plaintext)), payload, 'jose opens our message');
  t.same(opened.protectedHeader, { alg: 'dir', enc: 'A256GCM', kid, seq: 7, typ: 'aenv-release-request' });

  const theirs = await new FlattenedEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, seq: 9, typ: 'aenv-release-response' } as never)
    .encrypt(key);
  const jwe = { protected: theirs.protected!, encrypted_key: '', iv: theirs.iv!, ciphertext: theirs.ciphertext, tag: theirs.tag!, aad: '' };
  t.same(sessionHeaderOf(jwe, 'aenv-release-response'), { kid, seq: 9 });
  t.same(openSessionMessage(jwe, key), payload, "we open jose's message");
  t.throws(() => sessionHeaderOf(jwe, 'aenv-release-request'), { code: 'BAD_ENVELOPE' }, 'a response is not taken for a request');
  t.throws(() => openSessionMessage(jwe, randomBytes(32)), { code: 'BAD_ENVELOPE' }, 'another key opens nothing');

  const header = (h: Record<string, unknown>) => ({ ...ours, protected: Buffer.from(JSON.stringify(h)).toString('base64url') });
  const good = { alg: 'dir', enc: 'A256GCM', kid, seq: 7, typ: 'aenv-release-request' };
  for (const [what, h] of [
    ['alg RSA-OAEP-256', { ...good, alg: 'RSA-OAEP-256' }],
    ['enc A128GCM', { ...good, enc: 'A128GCM' }],
    ['a kid that is no session id', { ...good, kid: 'short' }],
    ['seq 0', { ...good, seq: 0 }],
    ['seq as a string', { ...good, seq: '7' }],
    ['seq 1.5', { ...good, seq: 1.5 }],
    ['an extra member (zip)', { ...good, zip: 'DEF' }],
    ['an extra member (crit)', { ...good, crit: ['b64'] }],
    ['no typ', { alg: 'dir', enc: 'A256GCM', kid, seq: 7 }],
  ] as const)
    t.throws(() => sessionHeaderOf(header(h), 'aenv-release-request'), { code: 'BAD_ENVELOPE' }, `refused: ${what}`);
  t.throws(() => sessionHeaderOf({ ...ours, encrypted_key: 'AAAA' }, 'aenv-release-request'), { code: 'BAD_ENVELOPE' }, 'refused: an encrypted key');
  t.throws(() => sessionHeaderOf({ ...ours, aad: 'AAAA' }, 'aenv-release-request'), { code: 'BAD_ENVELOPE' }, 'refused: a JWE aad');
  t.throws(() => sessionHeaderOf(undefined, 'aenv-release-request'), { code: 'BAD_ENVELOPE' });
  // The header is authenticated: the same bytes under a header naming another seq do not open.
  const moved = header({ ...good, seq: 8 });
  t.same(sessionHeaderOf(moved, 'aenv-release-request'), { kid, seq: 8 });
  t.throws(() => openSessionMessage(moved, key), { code: 'BAD_ENVELOPE' }, 'a seq changed in the header breaks the tag');
  for (const field of ['iv', 'ciphertext', 'tag'] as const) {
    const b = Buffer.from(ours[field], 'base64url');
    b[0]! ^= 1;
    t.throws(() => openSessionMessage({ ...ours, [field]: b.toString('base64url') }, key), { code: 'BAD_ENVELOPE' }, `a flipped bit in ${field} is refused`);
  }
  t.throws(() => openSessionMessage({ ...ours, iv: 'AAAA' }, key), { code: 'BAD_ENVELOPE' }, 'a short iv is refused');
});
