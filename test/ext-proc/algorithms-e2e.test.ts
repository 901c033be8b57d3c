// Every algorithm through real Envoy: the client seals, the app sees plaintext,
// the client opens the encrypted reply. Client envelopes are node:crypto code of
// ext-proc/client; jose-made envelopes are sent too (independent implementation).
import t from 'tap';
import { CompactEncrypt, FlattenedEncrypt, GeneralEncrypt, flattenedDecrypt, compactDecrypt } from 'jose';
import { openResponse, sealRequest, sealSessionRequest, sessionFromResponse, SESSION_HEADER } from '../../ext-proc/core/envelope-client.ts';
import { startOnlineStack } from '../helpers/ext-proc.ts';

t.test('all algorithms through Envoy', async (t) => {
  const s = await startOnlineStack(t);
  const { keys } = s.identity;
  const post = (body: string, contentType: string, headers: Record<string, string> = {}) =>
    fetch(`${s.url}/echo`, { method: 'POST', body, headers: { 'content-type': contentType, ...headers } });

  const cases = [
    { name: 'RSA-OAEP-256 A128GCM flattened', jwk: keys.rsa.publicJwk, alg: 'RSA-OAEP-256', enc: 'A128GCM', form: 'flattened' },
    { name: 'RSA-OAEP-256 A256GCM compact', jwk: keys.rsa.publicJwk, alg: 'RSA-OAEP-256', enc: 'A256GCM', form: 'compact' },
    { name: 'RSA-OAEP-256 A256GCM general', jwk: keys.rsa.publicJwk, alg: 'RSA-OAEP-256', enc: 'A256GCM', form: 'general' },
    { name: 'ECDH-ES X25519 A128GCM', jwk: keys.x25519.publicJwk, alg: 'ECDH-ES', enc: 'A128GCM', form: 'flattened' },
    { name: 'ECDH-ES X25519 A256GCM compact', jwk: keys.x25519.publicJwk, alg: 'ECDH-ES', enc: 'A256GCM', form: 'compact' },
    { name: 'ECDH-ES P-256 A256GCM', jwk: keys.p256.publicJwk, alg: 'ECDH-ES', enc: 'A256GCM', form: 'flattened' },
    { name: 'ECDH-ES+A256KW X25519 A128GCM', jwk: keys.x25519.publicJwk, alg: 'ECDH-ES+A256KW', enc: 'A128GCM', form: 'flattened' },
    { name: 'ECDH-ES+A256KW P-256 A256GCM', jwk: keys.p256.publicJwk, alg: 'ECDH-ES+A256KW', enc: 'A256GCM', form: 'general' },
  ] as const;
  for (const c of cases) {
    const msg = `hello ${c.name}`;
    const sealed = sealRequest(msg, { jwk: c.jwk, alg: c.alg, enc: c.enc, form: c.form });
    // jose (independent) must read the client's envelope with the app's private key.
    const key = c.jwk.crv === 'X25519' ? keys.x25519.privateKey : c.jwk.crv === 'P-256' ? keys.p256.privateKey : keys.rsa.privateKey;
    const josePt = c.form === 'compact' ? (await compactDecrypt(sealed.body, key)).plaintext : c.form === 'flattened' ? (await flattenedDecrypt(JSON.parse(sealed.body), key)).plaintext : undefined;
    if (josePt) t.equal(Buffer.from(josePt).toString(), msg, `${c.name}: jose decrypts the client envelope`);
    const before = s.app.requests.length;
    const res = await post(sealed.body, sealed.contentType);
    const text = await res.text();
    t.equal(res.status, 200, `${c.name}: 200 (${text.slice(0, 120)})`);
    t.equal(s.app.requests.length, before + 1);
    const seen = s.app.requests.at(-1)!;
    t.equal(seen.body, msg, `${c.name}: the app sees the plaintext`);
    t.equal(seen.headers['content-length'], String(Buffer.byteLength(msg)), `${c.name}: content-length fixed`);
    t.notMatch(text, /I got your message/, `${c.name}: the reply is not in the clear`);
    t.equal(openResponse(text, sealed).toString(), `I got your message: ${msg}`, `${c.name}: reply decrypts`);
    t.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)), `${c.name}: response content-length fixed`);
    // jose reads the response too, as alg dir with the request's CEK.
    const joseReply = c.form === 'compact' ? await compactDecrypt(text, sealed.cek) : await flattenedDecrypt(JSON.parse(text), sealed.cek);
    t.equal(Buffer.from(joseReply.plaintext).toString(), `I got your message: ${msg}`, `${c.name}: jose opens the reply`);
    t.equal(joseReply.protectedHeader?.cty, 'text/plain', `${c.name}: the app's content type travels as cty`);
  }

  // Envelopes produced by jose itself, with a CEK we choose so that the reply can be opened.
  const cek = Buffer.alloc(16, 7);
  const joseFlat = await new FlattenedEncrypt(Buffer.from('from jose')).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A128GCM', kid: keys.rsa.kid }).setContentEncryptionKey(cek).encrypt(keys.rsa.publicKey);
  let res = await post(JSON.stringify(joseFlat), 'application/json');
  t.equal(res.status, 200);
  t.equal(openResponse(await res.text(), { cek, enc: 'A128GCM', compat: 'rfc7516' }).toString(), 'I got your message: from jose', 'jose RSA envelope (application/json) accepted');
  const joseKw = await new CompactEncrypt(Buffer.from('kw from jose')).setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A128GCM' }).setContentEncryptionKey(cek).encrypt(keys.p256.publicKey);
  res = await post(joseKw, 'application/jose');
  t.equal(openResponse(await res.text(), { cek, enc: 'A128GCM', compat: 'rfc7516' }).toString(), 'I got your message: kw from jose', 'jose ECDH-ES+A256KW P-256 compact accepted (key chosen by alg)');
  const joseEs = await new GeneralEncrypt(Buffer.from('es from jose')).setProtectedHeader({ enc: 'A256GCM' }).addRecipient(keys.x25519.publicKey).setUnprotectedHeader({ alg: 'ECDH-ES', kid: keys.x25519.kid }).encrypt();
  res = await post(JSON.stringify(joseEs), 'application/jose+json');
  t.equal(res.status, 200, 'jose general-JSON ECDH-ES X25519 accepted');
  t.equal(s.app.requests.at(-1)!.body, 'es from jose');
  t.match(JSON.parse(await res.text()), { protected: String, iv: String, ciphertext: String, tag: String }, 'reply is flattened JWE');

  // Session mode: ECDH-ES establishes, dir follows.
  const first = sealRequest('open session', { jwk: keys.x25519.publicJwk, enc: 'A256GCM' });
  res = await post(first.body, first.contentType, { [SESSION_HEADER]: 'new' });
  const firstText = await res.text();
  t.equal(openResponse(firstText, first).toString(), 'I got your message: open session');
  t.notOk(s.app.requests.at(-1)!.headers[SESSION_HEADER], 'the session request header does not reach the app');
  const session = sessionFromResponse(res.headers, first);
  t.match(session.id, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{70,}$/, 'session id is a sealed ticket');
  t.ok(session.expiresAt > Date.now(), 'expiry in the future');
  t.not(session.key.toString('hex'), first.cek.toString('hex'), 'session key differs from the establishing CEK');
  for (const i of [1, 2, 3]) {
    const sealed = sealSessionRequest(`dir ${i}`, session, i === 2 ? 'compact' : 'flattened');
    res = await post(sealed.body, sealed.contentType);
    const text = await res.text();
    t.equal(res.status, 200);
    t.equal(openResponse(text, sealed).toString(), `I got your message: dir ${i}`, `session message ${i} round-trips`);
    t.equal(s.app.requests.at(-1)!.body, `dir ${i}`);
  }
  // jose can talk in the session too: dir with the derived key.
  const joseDir = await new FlattenedEncrypt(Buffer.from('jose dir')).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: session.id }).encrypt(session.key);
  res = await post(JSON.stringify(joseDir), 'application/jose+json');
  t.equal(Buffer.from((await flattenedDecrypt(JSON.parse(await res.text()), session.key)).plaintext).toString(), 'I got your message: jose dir');
  t.equal(s.extProc.sessions.size, 1);

  // A chunked envelope (no content-length from the client) is decrypted as well.
  const chunkedSeal = sealRequest('chunked hello', { jwk: keys.x25519.publicJwk });
  const stream = new ReadableStream({ start(ctl) { const b = new TextEncoder().encode(chunkedSeal.body); ctl.enqueue(b.slice(0, 50)); ctl.enqueue(b.slice(50)); ctl.close(); } });
  res = await fetch(`${s.url}/chunked`, { method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': chunkedSeal.contentType } } as RequestInit);
  t.equal(openResponse(await res.text(), chunkedSeal).toString(), 'I got your message: chunked hello', 'chunked envelope round-trips');
  t.equal(s.app.requests.at(-1)!.body, 'chunked hello');
  t.equal(s.app.requests.at(-1)!.headers['content-length'], String('chunked hello'.length), 'the app gets a content-length');
  t.notOk(s.app.requests.at(-1)!.headers['transfer-encoding'], 'and no chunked encoding');

  // Plain requests pass through untouched by default (Trustflow's behaviour).
  res = await post('{"plain":true}', 'application/json');
  t.equal(await res.text(), 'I got your message: {"plain":true}', 'plain JSON passes (sniffed, not an envelope)');
  res = await post('hi', 'application/octet-stream');
  t.equal(await res.text(), 'I got your message: hi', 'non-JSON content passes (body phases skipped)');
  res = await fetch(`${s.url}/get`);
  t.equal(await res.text(), 'I got your message: ', 'GET without body passes');

  // Every finished side stream was closed by ext-proc, none reset by Envoy (the
  // bootstrap's ext_proc_graceful_grpc_close runtime default), but for the one
  // plain JSON request: ext-proc ends its stream after the body so the response
  // is not buffered, and Envoy resets a stream ended before the response phase.
  const stats = await s.envoy.stats('ext_proc');
  const closed = [...stats].filter(([k]) => k.endsWith('.ext_proc.streams_closed')).reduce((a, [, v]) => a + v, 0);
  t.ok(closed >= 10, `side streams were used (${closed})`);
  t.equal(stats.get('cluster.ext_proc.http2.tx_reset') ?? 0, 1, 'Envoy reset only the plain JSON request\'s ext_proc stream');
});
