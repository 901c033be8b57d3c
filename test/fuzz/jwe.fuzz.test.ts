// Fuzzing the JWE envelope of ext-proc: the compact and JSON parsers, base64url,
// decryption with the real app identity, and the whole per-request exchange fed
// arbitrary headers and bodies. Property: a result or an ExtProcError, never any
// other exception; valid envelopes (sealed by the real client) still decrypt;
// a rejected request creates no session.
import t from 'tap';
import { createEphemeralAppIdentity } from '../../platforms/index.ts';
import { CONTENT_ENCS, KEY_ALGS, type ContentEnc } from '../../ext-proc/config.ts';
import { ExtProcError } from '../../ext-proc/errors.ts';
import { decryptEnvelope, type DecryptOptions } from '../../ext-proc/core/jwe-decrypt.ts';
import { b64uDecode, parseCompact, parseJsonJwe, type ParsedJwe } from '../../ext-proc/core/jwe-envelope.ts';
import { EnvelopeExchange, type EnvelopeContext } from '../../ext-proc/core/envelope-exchange.ts';
import { SESSION_HEADER, SessionTable, deriveTicketKey } from '../../ext-proc/core/session-table.ts';
import { sealRequest, sealSessionRequest, type ClientForm, type Sealed } from '../../ext-proc/core/envelope-client.ts';
import { checkProperty, expectTyped, fc } from './fuzz-config.ts';
import { applyTextEdits, byteEdits, hostileJson, hostileKey } from './mutations.ts';

const identity = await createEphemeralAppIdentity('jwe-fuzz');
const opts: DecryptOptions = { identity, compat: 'rfc7516', algorithms: KEY_ALGS, encryptions: CONTENT_ENCS };
const sessions = new SessionTable({ ttlMs: 60_000, maxEntries: 1000, maxUses: 1 << 20, ticketKey: deriveTicketKey(Buffer.alloc(64, 7)) });

const KEYS = [
  { jwk: identity.keys.rsa.publicJwk, alg: 'RSA-OAEP-256' },
  { jwk: identity.keys.x25519.publicJwk, alg: 'ECDH-ES' },
  { jwk: identity.keys.p256.publicJwk, alg: 'ECDH-ES' },
  { jwk: identity.keys.x25519.publicJwk, alg: 'ECDH-ES+A256KW' },
  { jwk: identity.keys.p256.publicJwk, alg: 'ECDH-ES+A256KW' },
] as const;

interface SealSpec {
  key: number;
  enc: ContentEnc;
  form: ClientForm;
  plaintext: Uint8Array;
}

const sealSpec: fc.Arbitrary<SealSpec> = fc.record({
  key: fc.integer({ min: 0, max: KEYS.length - 1 }),
  enc: fc.constantFrom(...CONTENT_ENCS),
  form: fc.constantFrom<ClientForm>('flattened', 'general', 'compact'),
  plaintext: fc.uint8Array({ maxLength: 64 }),
});

function seal(s: SealSpec, header?: Record<string, unknown>): Sealed {
  const k = KEYS[s.key]!;
  return sealRequest(Buffer.from(s.plaintext), { jwk: k.jwk, alg: k.alg, enc: s.enc, form: s.form, ...(header ? { header } : {}) });
}

function parseBody(body: string): ParsedJwe {
  const text = body.trim();
  return text.startsWith('{') ? parseJsonJwe(JSON.parse(text)) : parseCompact(text);
}

/**
 * The product's parse of a (mutated) body, or undefined when the body is no
 * longer JSON at all: the JSON.parse here is the harness's (the exchange
 * property covers how ext-proc itself treats non-JSON bodies).
 */
function productParse(body: string): (() => ParsedJwe) | undefined {
  const text = body.trim();
  if (!text.startsWith('{')) return () => parseCompact(text);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return () => parseJsonJwe(v);
}

/** A session established the way a client does it (first envelope, then the ticket). */
const session = (() => {
  const first = seal({ key: 0, enc: 'A256GCM', form: 'flattened', plaintext: new Uint8Array([1]) });
  const d = decryptEnvelope(parseBody(first.body), opts);
  const s = sessions.create(d.cek, d.enc);
  return { id: s.id, key: Buffer.from(d.cek), enc: d.enc, expiresAt: s.expiresAt };
})();

t.test('b64uDecode: bytes or MALFORMED_ENVELOPE, and base64url round-trips', async (t) => {
  await checkProperty(t, 'b64uDecode arbitrary input', [fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), hostileJson)], (s) => {
    try {
      const b = b64uDecode(s, 'field');
      // Whatever is accepted is canonical base64url of what it decodes to (modulo the unused low bits).
      if (typeof s !== 'string' || b.toString('base64url').length !== s.length) throw new Error(`accepted ${JSON.stringify(s)} as ${b.toString('hex')}`);
    } catch (e) {
      expectTyped(e, ExtProcError);
    }
  }, { runs: 2000 });
  await checkProperty(t, 'b64uDecode round-trip', [fc.uint8Array({ maxLength: 200 })], (bytes) => {
    const s = Buffer.from(bytes).toString('base64url');
    return b64uDecode(s, 'x').equals(Buffer.from(bytes));
  }, { runs: 500 });
});

t.test('parseCompact / parseJsonJwe: a structure or MALFORMED_ENVELOPE', async (t) => {
  const compactish = fc.array(fc.oneof(fc.base64String({ maxLength: 40 }).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '')), fc.string({ maxLength: 10 })), { minLength: 0, maxLength: 7 }).map((p) => p.join('.'));
  await checkProperty(t, 'parseCompact arbitrary text', [fc.oneof(compactish, fc.string({ unit: 'binary', maxLength: 200 }))], (s) => {
    try {
      parseCompact(s);
    } catch (e) {
      expectTyped(e, ExtProcError);
    }
  }, { runs: 2000 });
  const jweMember = fc.oneof(fc.base64String({ maxLength: 30 }).map((s) => s.replace(/=/g, '')), hostileJson);
  const jsonish = fc.oneof(
    hostileJson,
    fc.record({ protected: jweMember, encrypted_key: jweMember, iv: jweMember, ciphertext: jweMember, tag: jweMember, aad: jweMember, header: jweMember, unprotected: jweMember }, { requiredKeys: [] }),
    fc.record({ protected: jweMember, recipients: fc.oneof(fc.array(fc.record({ header: jweMember, encrypted_key: jweMember }, { requiredKeys: [] }), { maxLength: 20 }), hostileJson), iv: jweMember, ciphertext: jweMember, tag: jweMember }, { requiredKeys: [] }),
  );
  await checkProperty(t, 'parseJsonJwe arbitrary JSON', [jsonish], (v) => {
    try {
      parseJsonJwe(v);
    } catch (e) {
      expectTyped(e, ExtProcError);
    }
  }, { runs: 3000 });
});

t.test('decryptEnvelope: sealed envelopes decrypt; any mutation is an ExtProcError', async (t) => {
  await checkProperty(t, 'valid envelopes decrypt', [sealSpec], (s) => {
    const sealed = seal(s);
    const d = decryptEnvelope(parseBody(sealed.body), opts);
    if (!d.plaintext.equals(Buffer.from(s.plaintext))) throw new Error('plaintext differs');
    if (!d.cek.equals(sealed.cek)) throw new Error('cek differs');
  }, { runs: 60 });

  await checkProperty(t, 'text mutations of sealed envelopes', [sealSpec, byteEdits(3)], (s, edits) => {
    const sealed = seal(s);
    const body = applyTextEdits(sealed.body, edits);
    const parse = productParse(body);
    if (!parse) return;
    try {
      const d = decryptEnvelope(parse(), opts);
      // Edits that keep the envelope valid (e.g. inside JSON whitespace, or a
      // change of base64url's unused low bits) must still yield the sealed plaintext.
      if (!d.plaintext.equals(Buffer.from(s.plaintext))) throw new Error(`mutated envelope decrypted to other plaintext: ${JSON.stringify(body)}`);
    } catch (e) {
      expectTyped(e, ExtProcError);
    }
  }, { runs: 300 });

  const members = ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag', 'aad', 'header', 'unprotected', 'recipients'];
  await checkProperty(t, 'member mutations of JSON envelopes', [sealSpec.filter((s) => s.form !== 'compact'), fc.array(fc.record({ member: fc.constantFrom(...members), value: fc.option(hostileJson, { nil: undefined }) }), { minLength: 1, maxLength: 3 })], (s, edits) => {
    const v = JSON.parse(seal(s).body) as Record<string, unknown>;
    for (const { member, value } of edits) {
      if (value === undefined) delete v[member];
      else v[member] = value;
    }
    try {
      decryptEnvelope(parseJsonJwe(v), opts);
    } catch (e) {
      expectTyped(e, ExtProcError);
    }
  }, { runs: 300 });

  // Header values reach key selection, epk import, the KDF inputs and session
  // lookup before any authentication: seal with arbitrary protected header
  // members (the crypto is valid, the header lies).
  const headerNames = fc.constantFrom('alg', 'enc', 'kid', 'epk', 'apu', 'apv', 'zip', 'crit', 'cty', 'p2s', 'x5c');
  const epkish = fc.oneof(
    hostileJson,
    fc.record({ kty: fc.constantFrom('OKP', 'EC', 'RSA', 'oct'), crv: fc.constantFrom('X25519', 'P-256', 'P-384', 'Ed25519', 'X448'), x: fc.oneof(fc.base64String({ maxLength: 60 }), hostileJson), y: fc.oneof(fc.base64String({ maxLength: 60 }), hostileJson), d: fc.string() }, { requiredKeys: [] }),
  );
  await checkProperty(t, 'hostile protected headers', [sealSpec, fc.dictionary(headerNames, fc.oneof(hostileJson, epkish, fc.constantFrom(...KEY_ALGS, ...CONTENT_ENCS, identity.keys.rsa.kid, identity.keys.p256.kid, session.id)), { minKeys: 1, maxKeys: 4 })], (s, header) => {
    try {
      decryptEnvelope(parseBody(seal(s, header).body), { ...opts, sessions });
    } catch (e) {
      expectTyped(e, ExtProcError);
    }
  }, { runs: 400 });

  // Extra header parameters a server does not understand are ignored (RFC 7516
  // 4.1: unless listed in crit), whatever their names.
  const reserved = new Set(['alg', 'enc', 'kid', 'epk', 'apu', 'apv', 'zip', 'crit', 'cty', 'iv', 'tag']);
  await checkProperty(t, 'unknown header parameters are ignored', [sealSpec, fc.dictionary(hostileKey.filter((k) => k !== '' && !reserved.has(k)), hostileJson, { minKeys: 1, maxKeys: 3 })], (s, extra) => {
    const d = decryptEnvelope(parseBody(seal(s, extra).body), opts);
    return d.plaintext.equals(Buffer.from(s.plaintext));
  }, { runs: 200 });
});

t.test('regression: header parameters named like Object.prototype members', async (t) => {
  // Found by 'unknown header parameters are ignored'. Shrunk counterexample:
  // [{"key":0,"enc":"A128GCM","form":"flattened","plaintext":[]},{"__proto__":null," ":null}]
  // joinHeader tested `k in out` on a plain object, so "__proto__" (and
  // "constructor", "toString", ...) was reported as appearing twice.
  const extra = JSON.parse('{"__proto__":null," ":null}') as Record<string, unknown>;
  const d = decryptEnvelope(parseBody(seal({ key: 0, enc: 'A128GCM', form: 'flattened', plaintext: new Uint8Array() }, extra).body), opts);
  t.equal(d.plaintext.length, 0);
  for (const name of ['constructor', 'toString', 'hasOwnProperty']) {
    t.equal(decryptEnvelope(parseBody(seal({ key: 1, enc: 'A256GCM', form: 'compact', plaintext: new Uint8Array([1]) }, { [name]: 1 }).body), opts).plaintext[0], 1, name);
  }
  // A real duplicate (protected and unprotected) is still refused.
  const flat = JSON.parse(seal({ key: 0, enc: 'A128GCM', form: 'flattened', plaintext: new Uint8Array() }, extra).body) as Record<string, unknown>;
  t.throws(() => decryptEnvelope(parseJsonJwe({ ...flat, unprotected: JSON.parse('{"__proto__":1}') }), opts), { code: 'MALFORMED_ENVELOPE', message: /"__proto__" appears twice/ });
});

t.test('EnvelopeExchange: any request is a decision, never an exception; rejected requests create no session', async (t) => {
  const ctxOf = (plain: 'allow' | 'reject', compat: 'rfc7516' | 'trustflow'): EnvelopeContext => ({ identity, sessions, compat, plain, maxBodyBytes: 4096, algorithms: KEY_ALGS, encryptions: CONTENT_ENCS });
  const contentType = fc.oneof(fc.constantFrom('application/jose', 'application/jose+json', 'application/json', 'text/plain', '', 'application/json; charset=utf-8', ' Application/JOSE ;x=1', 'image/png'), fc.string({ maxLength: 30 }));
  const headerMap = fc.record({
    'content-type': fc.option(contentType, { nil: undefined }),
    'content-length': fc.option(fc.oneof(fc.nat().map(String), fc.string({ maxLength: 8 })), { nil: undefined }),
    [SESSION_HEADER]: fc.option(fc.oneof(fc.constant('new'), fc.constant('NEW'), fc.string({ maxLength: 8 })), { nil: undefined }),
  }, { requiredKeys: [] });
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.tuple(sealSpec, fc.option(byteEdits(2), { nil: undefined })).map(([s, edits]) => {
      const b = seal(s).body;
      return Buffer.from(edits ? applyTextEdits(b, edits) : b, 'latin1');
    }),
    fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.constantFrom<ClientForm>('flattened', 'compact')).map(([pt, form]) => Buffer.from(sealSessionRequest(Buffer.from(pt), session, form).body)),
    hostileJson.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  );
  await checkProperty(t, 'exchange over arbitrary headers and bodies', [fc.constantFrom('allow' as const, 'reject' as const), fc.constantFrom('rfc7516' as const, 'trustflow' as const), headerMap, fc.boolean(), body, fc.option(contentType, { nil: undefined }), fc.uint8Array({ maxLength: 64 })], (plain, compat, headers, eos, reqBody, respType, respBody) => {
    const ex = new EnvelopeExchange(ctxOf(plain, compat));
    const h = new Map(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
    const before = sessions.size;
    const check = (d: { kind: string; error?: unknown }) => {
      if (d.kind === 'reject' && !ExtProcError.is(d.error)) throw new Error(`reject without an ExtProcError: ${String(d.error)}`);
    };
    const d1 = ex.onRequestHeaders(h, eos);
    check(d1);
    if (d1.kind !== 'continue') return;
    const d2 = ex.onRequestBody(reqBody);
    check(d2);
    if (d2.kind === 'reject' && sessions.size !== before) throw new Error('a rejected request changed the session table');
    if (d2.kind === 'replace' && !ex.isEnvelope) throw new Error('replaced a body that was not an envelope');
    check(ex.onResponseHeaders(new Map(respType === undefined ? [] : [['content-type', respType]])));
    check(ex.onResponseBody(Buffer.from(respBody)));
  }, { runs: 500 });

  await checkProperty(t, 'exchange decrypts valid envelopes', [sealSpec], (s) => {
    const sealed = seal(s);
    const ex = new EnvelopeExchange(ctxOf('reject', 'rfc7516'));
    const d1 = ex.onRequestHeaders(new Map([['content-type', sealed.contentType]]), false);
    if (d1.kind !== 'continue') throw new Error(`headers: ${d1.kind}`);
    const d2 = ex.onRequestBody(Buffer.from(sealed.body));
    if (d2.kind !== 'replace' || !d2.body.equals(Buffer.from(s.plaintext))) throw new Error(`body: ${d2.kind}`);
  }, { runs: 40 });
});
