// The pure core without Envoy or gRPC: jose-made envelopes decrypt, our responses
// open with jose, the session table expires/evicts/retires, detection by shape.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { CompactEncrypt, FlattenedEncrypt, flattenedDecrypt } from 'jose';
import { decryptEnvelope, type DecryptOptions } from '../../ext-proc/core/jwe-decrypt.ts';
import { base64urlJson, hasJweShape, looksCompact, parseCompact, parseJsonJwe } from '../../ext-proc/core/jwe-envelope.ts';
import { encryptResponse } from '../../ext-proc/core/response-encrypt.ts';
import { SessionTable, deriveSessionKey, deriveTicketKey } from '../../ext-proc/core/session-table.ts';
import { EnvelopeExchange } from '../../ext-proc/core/envelope-exchange.ts';
import { parseExtProcConfig } from '../../ext-proc/config.ts';
import { KEY_ALGS, CONTENT_ENCS } from '../../ext-proc/config.ts';
import { testIdentity } from '../helpers/ext-proc.ts';

t.test('jose envelopes decrypt with the app identity, for every alg x enc', async (t) => {
  const identity = await testIdentity();
  const opts: DecryptOptions = { identity, compat: 'rfc7516', algorithms: KEY_ALGS, encryptions: CONTENT_ENCS };
  for (const enc of CONTENT_ENCS) {
    for (const [alg, key] of [['RSA-OAEP-256', identity.keys.rsa], ['ECDH-ES', identity.keys.x25519], ['ECDH-ES', identity.keys.p256], ['ECDH-ES+A256KW', identity.keys.x25519], ['ECDH-ES+A256KW', identity.keys.p256]] as const) {
      const compact = await new CompactEncrypt(Buffer.from(`${alg} ${enc}`)).setProtectedHeader({ alg, enc, kid: key.kid }).encrypt(key.publicKey);
      const d = decryptEnvelope(parseCompact(compact), opts);
      t.equal(d.plaintext.toString(), `${alg} ${enc}`, `${alg}/${key.name}/${enc}`);
      const res = encryptResponse(d, Buffer.from('reply'), 'rfc7516', 'application/json');
      t.equal(res.contentType, 'application/jose');
    }
  }
  const flat = await new FlattenedEncrypt(Buffer.from('aad')).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A128GCM' }).setAdditionalAuthenticatedData(Buffer.from('extra')).setSharedUnprotectedHeader({ cty: 'text/plain' }).encrypt(identity.keys.rsa.publicKey);
  const d = decryptEnvelope(parseJsonJwe(flat), opts);
  t.equal(d.plaintext.toString(), 'aad', 'JWE aad member is authenticated as RFC 7516 says');
  t.equal(d.cty, 'text/plain');
  const res = encryptResponse(d, Buffer.from('reply'), 'rfc7516', 'application/json');
  t.equal(Buffer.from((await flattenedDecrypt(JSON.parse(res.body.toString()), d.cek)).plaintext).toString(), 'reply', 'jose opens the response');
  t.throws(() => decryptEnvelope(parseJsonJwe(flat), { ...opts, algorithms: ['ECDH-ES'] }), { code: 'UNSUPPORTED_ALG' }, 'algorithms config restricts');
  t.throws(() => decryptEnvelope(parseJsonJwe(flat), { ...opts, encryptions: ['A256GCM'] }), { code: 'UNSUPPORTED_ENC' });
  t.throws(() => decryptEnvelope(parseJsonJwe({ ...flat, header: { alg: 'x' } }), opts), { code: 'MALFORMED_ENVELOPE' }, 'duplicate header parameter');
});

t.test('session table: tickets, ttl, max uses, bounded tracking', async (t) => {
  let now = 1_000_000;
  const ticketKey = deriveTicketKey(Buffer.alloc(64, 5));
  const table = new SessionTable({ ttlMs: 1000, maxEntries: 2, maxUses: 3, ticketKey, now: () => now });
  const a = table.create(Buffer.alloc(16, 1), 'A128GCM');
  t.equal(a.expiresAt, now + 1000);
  t.match(a.id, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/, 'id = random part . sealed ticket');
  t.same(table.use(a.id)!.key, deriveSessionKey(Buffer.alloc(16, 1), 'A128GCM', a.id), 'the client derives the same key from the id');
  t.not(deriveSessionKey(Buffer.alloc(16, 1), 'A128GCM', a.id).toString('hex'), Buffer.alloc(16, 1).toString('hex'), 'session key differs from the CEK');

  // Another process with the same ticket key (another replica, or after a restart) accepts it.
  const replica = new SessionTable({ ttlMs: 1000, maxEntries: 2, maxUses: 3, ticketKey, now: () => now });
  t.same(replica.use(a.id)!.key, deriveSessionKey(Buffer.alloc(16, 1), 'A128GCM', a.id), 'a replica opens the ticket');
  const stranger = new SessionTable({ ttlMs: 1000, maxEntries: 2, maxUses: 3, ticketKey: deriveTicketKey(Buffer.alloc(64, 6)), now: () => now });
  t.equal(stranger.use(a.id), undefined, 'another app identity does not');

  // Forged and damaged tickets are unknown sessions.
  const [r, sealed] = a.id.split('.') as [string, string];
  const flip = (x: string, i: number) => x.slice(0, i) + (x[i] === 'A' ? 'B' : 'A') + x.slice(i + 1);
  t.equal(table.use(`${flip(r, 3)}.${sealed}`), undefined, 'random part bound to the ticket (AAD)');
  t.equal(table.use(`${r}.${flip(sealed, 20)}`), undefined, 'sealed part tampered');
  t.equal(table.use(`${r}.${sealed.slice(0, -4)}`), undefined, 'truncated');
  t.equal(table.use(r), undefined, 'random part alone');
  t.equal(table.use('no-such-session'), undefined);
  // The table keeps the opened ticket of a session it tracks (later requests skip the unseal):
  // only the same id string takes that path, and the forgeries above counted no use of it.
  const again = table.use(a.id)!;
  t.equal(again.uses, 2, 'the real session: its second use');
  t.same(again.key, deriveSessionKey(Buffer.alloc(16, 1), 'A128GCM', a.id), 'with its key');
  t.equal(table.use(`${r}.${flip(sealed, 30)}`), undefined, 'a forged ticket with the random part of a tracked session is still opened, and refused');

  // Uses are counted per process; a used-up session stays refused.
  const b = table.create(Buffer.alloc(16, 2), 'A256GCM');
  t.equal(table.use(b.id)!.enc, 'A256GCM');
  t.ok(table.use(b.id) && table.use(b.id));
  t.equal(table.use(b.id), undefined, 'retired after maxUses');
  t.equal(table.use(b.id), undefined, 'and stays retired');
  t.equal(table.size, 2, 'tracking bounded by maxEntries');
  now += 1000;
  t.equal(table.use(a.id), undefined, 'expired (the expiry is sealed in the ticket)');
  t.equal(replica.use(a.id), undefined, 'expired everywhere');
  table.create(Buffer.alloc(16), 'A128GCM');
  now += 2000;
  t.ok(table.sweep() >= 1);
  t.equal(table.size, 0);
  t.throws(() => new SessionTable({ ttlMs: 1, maxEntries: 1, maxUses: 1, ticketKey: Buffer.alloc(16) }), /32 bytes/);
});

t.test('detection and exchange decisions', async (t) => {
  t.ok(hasJweShape({ protected: 'x', ciphertext: 'y' }));
  t.notOk(hasJweShape({ hello: 1 }));
  t.notOk(hasJweShape([1]));
  t.ok(looksCompact('eyJ.abc.def.ghi.jkl'));
  t.notOk(looksCompact('hello world'));
  const identity = await testIdentity();
  const cfg = parseExtProcConfig({ maxBodyBytes: 100 });
  const ctx = { identity, sessions: undefined, compat: cfg.compat, plain: cfg.plain, maxBodyBytes: 100, algorithms: cfg.algorithms, encryptions: cfg.encryptions };
  const h = (o: Record<string, string>) => new Map(Object.entries(o));
  t.match(new EnvelopeExchange(ctx).onRequestHeaders(h({ 'content-type': 'image/png' }), false), { kind: 'pass' });
  t.match(new EnvelopeExchange(ctx).onRequestHeaders(h({}), true), { kind: 'pass' });
  t.match(new EnvelopeExchange(ctx).onRequestHeaders(h({ 'content-type': 'application/json; charset=utf-8' }), false), { kind: 'continue' });
  t.match(new EnvelopeExchange(ctx).onRequestHeaders(h({ 'content-type': 'application/jose', 'content-length': '101' }), false), { kind: 'reject', error: { code: 'BODY_TOO_LARGE' } });
  const ex = new EnvelopeExchange(ctx);
  ex.onRequestHeaders(h({ 'content-type': 'application/json' }), false);
  t.match(ex.onRequestBody(Buffer.from('{"not":"jwe"}')), { kind: 'continue' }, 'plain JSON sniffed and passed');
  t.match(ex.onResponseBody(Buffer.from('x')), { kind: 'continue' }, 'plain responses untouched');
  const strict = new EnvelopeExchange({ ...ctx, plain: 'reject' });
  strict.onRequestHeaders(h({ 'content-type': 'application/json' }), false);
  t.match(strict.onRequestBody(Buffer.from('{"not":"jwe"}')), { kind: 'reject', error: { code: 'ENCRYPTION_REQUIRED' } });
  t.throws(() => parseExtProcConfig({ compat: 'lax', nope: 1 }), /2 errors[\s\S]*nope[\s\S]*compat: must be equal to one of the allowed values/, 'config reports every error');
});

t.test('base64urlJson writes exactly what JSON.stringify writes', async (t) => {
  const big = randomBytes(65536).toString('base64url');
  const shapes: Record<string, string>[] = [
    { protected: 'eyJhbGciOiJkaXIifQ', iv: 'AAAAAAAAAAAAAAAA', ciphertext: big, tag: 'q83vq83vq83vq83vq83vqw' },
    { protected: 'eyJhbGciOiJSU0EtT0FFUC0yNTYifQ', encrypted_key: '', iv: 'AA', ciphertext: '', tag: 'AA', aad: '' },
    {},
  ];
  for (const s of shapes) t.ok(base64urlJson(s).equals(Buffer.from(JSON.stringify(s))), `${Object.keys(s).join(',') || 'empty'}`);
});
