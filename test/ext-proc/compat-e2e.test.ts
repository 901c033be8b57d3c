// The trustflow-compat switch through real Envoy: Trustflow's client form (GCM AAD
// = empty aad member) is accepted only when configured, and the response has
// Trustflow's exact shape. RFC 7516 stays the default.
import t from 'tap';
import { createDecipheriv } from 'node:crypto';
import { openResponse, sealRequest } from '../../ext-proc/core/envelope-client.ts';
import { startOnlineStack, testIdentity } from '../helpers/ext-proc.ts';

t.test('trustflow compat mode', async (t) => {
  const identity = await testIdentity();
  const compat = await startOnlineStack(t, { config: { compat: 'trustflow' }, identity });
  const rfc = await startOnlineStack(t, { identity });
  const tf = sealRequest('hello', { jwk: identity.keys.rsa.publicJwk, compat: 'trustflow', enc: 'A128GCM' });
  t.same(Object.keys(JSON.parse(tf.body)), ['protected', 'encrypted_key', 'iv', 'aad', 'ciphertext', 'tag'], 'client sends Trustflow\'s members');
  t.same(JSON.parse(Buffer.from(JSON.parse(tf.body).protected, 'base64url').toString()), { alg: 'RSA-OAEP-256', enc: 'A128GCM' });

  let res = await fetch(`${compat.url}/`, { method: 'POST', body: tf.body, headers: { 'content-type': 'application/json' } });
  t.equal(res.status, 200);
  const text = await res.text();
  t.equal(compat.app.requests.at(-1)!.body, 'hello', 'the app sees "hello"');
  const reply = JSON.parse(text) as Record<string, string>;
  t.same(Object.keys(reply), ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag', 'aad'], 'Trustflow response member order');
  t.equal(reply.encrypted_key, '', 'encrypted_key is ""');
  t.equal(reply.aad, '', 'aad is ""');
  t.equal(Buffer.from(reply.protected!, 'base64url').toString(), '{"alg":"RSA-OAEP-256","enc":"A128GCM"}', 'Trustflow protected header bytes');
  t.equal(Buffer.from(reply.iv!, 'base64url').length, 12);
  t.not(reply.iv, JSON.parse(tf.body).iv, 'fresh IV');
  // Decrypt as Trustflow's client does: same CEK, no AAD.
  const d = createDecipheriv('aes-128-gcm', tf.cek, Buffer.from(reply.iv!, 'base64url'));
  d.setAuthTag(Buffer.from(reply.tag!, 'base64url'));
  t.equal(Buffer.concat([d.update(Buffer.from(reply.ciphertext!, 'base64url')), d.final()]).toString(), 'I got your message: hello', 'decrypts with empty AAD');
  t.equal(openResponse(text, tf).toString(), 'I got your message: hello');

  // The RFC server rejects the unauthenticated-header form, and vice versa.
  const before = rfc.app.requests.length;
  res = await fetch(`${rfc.url}/`, { method: 'POST', body: tf.body, headers: { 'content-type': 'application/json' } });
  t.equal(res.status, 400);
  t.equal(((await res.json()) as { code: string }).code, 'DECRYPT_FAILED', 'default mode refuses the Trustflow AAD form');
  t.equal(rfc.app.requests.length, before);
  const std = sealRequest('hello', { jwk: identity.keys.rsa.publicJwk });
  res = await fetch(`${compat.url}/`, { method: 'POST', body: std.body, headers: { 'content-type': 'application/json' } });
  t.equal(res.status, 400, 'compat mode is one form, not a downgrade-or-upgrade guess');
  res = await fetch(`${rfc.url}/`, { method: 'POST', body: std.body, headers: { 'content-type': 'application/json' } });
  t.equal(openResponse(await res.text(), std).toString(), 'I got your message: hello', 'default mode: RFC 7516');
});
