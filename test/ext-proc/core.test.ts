// The pure core without Envoy or gRPC: jose-made envelopes decrypt, our responses
// open with jose, the session table expires/evicts/retires, detection by shape.
import t from 'tap';
import { CompactEncrypt, FlattenedEncrypt, flattenedDecrypt } from 'jose';
import { decryptEnvelope, type DecryptOptions } from '../../ext-proc/jwe-decrypt.ts';
import { hasJweShape, looksCompact, parseCompact, parseJsonJwe } from '../../ext-proc/jwe-envelope.ts';
import { encryptResponse } from '../../ext-proc/response-encrypt.ts';
import { SessionTable, deriveSessionKey } from '../../ext-proc/session-table.ts';
import { EnvelopeExchange } from '../../ext-proc/envelope-exchange.ts';
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

t.test('session table: ttl, bounded size, max uses', async (t) => {
  let now = 1_000_000;
  const table = new SessionTable({ ttlMs: 1000, maxEntries: 2, maxUses: 3, now: () => now });
  const a = table.create(Buffer.alloc(16, 1), 'A128GCM');
  t.equal(a.expiresAt, now + 1000);
  t.same(table.use(a.id)!.key, deriveSessionKey(Buffer.alloc(16, 1), 'A128GCM', a.id));
  const b = table.create(Buffer.alloc(16, 2), 'A128GCM');
  const c = table.create(Buffer.alloc(16, 3), 'A128GCM');
  t.equal(table.size, 2, 'bounded');
  t.equal(table.use(a.id), undefined, 'oldest evicted');
  t.ok(table.use(b.id) && table.use(b.id) && table.use(b.id));
  t.equal(table.use(b.id), undefined, 'retired after maxUses');
  now += 1000;
  t.equal(table.use(c.id), undefined, 'expired');
  table.create(Buffer.alloc(16), 'A128GCM');
  now += 2000;
  t.equal(table.sweep(), 1);
  t.equal(table.size, 0);
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
