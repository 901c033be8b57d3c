import t from 'tap';
import { checkNonce, createNonceGuard, DOCUMENT_NONCE, RA_CERT_NONCE } from '../../ra-proxy/core/nonce-guard.ts';

t.test('replay window, expiry and capacity (fail closed)', async (t) => {
  let now = 1_000_000;
  const g = createNonceGuard({ windowMs: 60_000, maxEntries: 2, now: () => now });
  t.equal(g.accept('a', DOCUMENT_NONCE), 'a');
  t.throws(() => g.accept('a', DOCUMENT_NONCE), { code: 'NONCE_REPLAYED' });
  now += 30_000;
  t.equal(g.accept('b', DOCUMENT_NONCE), 'b');
  t.throws(() => g.accept('c', DOCUMENT_NONCE), { code: 'NONCE_CAPACITY' }, 'table full of live nonces');
  t.equal(g.size(), 2, 'a refused nonce is not recorded');
  now += 30_001; // 'a' expired, 'b' still live
  t.equal(g.accept('c', DOCUMENT_NONCE), 'c');
  t.throws(() => g.accept('b', DOCUMENT_NONCE), { code: 'NONCE_REPLAYED' });
  t.throws(() => g.accept('d', DOCUMENT_NONCE), { code: 'NONCE_CAPACITY' });
  now += 30_000; // 'b' expired
  t.equal(g.accept('a', DOCUMENT_NONCE), 'a', 'reuse after the window is a new request');
});

t.test('nonce rules', async (t) => {
  t.throws(() => checkNonce(undefined, DOCUMENT_NONCE), { code: 'NONCE_MISSING' });
  t.throws(() => checkNonce(42, DOCUMENT_NONCE), { code: 'NONCE_INVALID' });
  t.throws(() => checkNonce('x'.repeat(129), DOCUMENT_NONCE), { code: 'NONCE_TOO_LONG' });
  t.equal(checkNonce('x'.repeat(128), DOCUMENT_NONCE).length, 128);
  t.throws(() => checkNonce('a+b/c=', DOCUMENT_NONCE), { code: 'NONCE_INVALID' });
  t.equal(checkNonce('a+b/c=', RA_CERT_NONCE), 'a+b/c=', 'Trustflow base64 nonces');
  t.throws(() => checkNonce('a\nb', RA_CERT_NONCE), { code: 'NONCE_INVALID' });
  t.throws(() => checkNonce('ü', RA_CERT_NONCE), { code: 'NONCE_INVALID' });
});
