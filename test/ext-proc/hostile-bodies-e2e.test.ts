// Hostile bodies through the online ingress exactly as the demo runs it (the
// control plane's online plugin: body limit -> ext_authz -> ext_proc -> app,
// real Envoy, default limits). Every oversize request, whatever its framing,
// gets our JSON 413 within 1 s and Envoy stays up; the app never sees an
// envelope that was refused.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { openResponse, sealRequest } from '../../ext-proc/core/envelope-client.ts';
import { startIngressStack, testIdentity, type IngressStack } from '../helpers/ext-proc.ts';
import { send, type Framing, type RawResponse } from '../helpers/raw-http.ts';
import { envelopeOfSize } from '../helpers/sized-envelopes.ts';

const LIMIT = 1024 * 1024;
const MB = 1_000_000;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The app answers with what it got (size and hash), so large bodies need not travel back. */
const summaryApp = (_req: IncomingMessage, body: Buffer, res: ServerResponse) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`got ${body.length} ${sha(body)}`);
};

function json(r: RawResponse): { code?: string; message?: string } {
  try {
    return JSON.parse(r.body) as { code?: string; message?: string };
  } catch {
    return {};
  }
}

async function checkAlive(t: Test, s: IngressStack, what: string): Promise<void> {
  t.ok(await s.ready(), `${what}: Envoy is alive and /ready says LIVE`);
}

t.test('the crash recipe: 2 MB chunked application/jose+json through ext_authz + ext_proc gets our JSON 413 at once', async (t) => {
  const s = await startIngressStack(t, { app: summaryApp });
  const port = Number(new URL(s.url).port);
  // Before the fix, about half of these hung until the stream idle timeout (300 s),
  // and Envoy 1.40 then crashed (docs/threat-model.md).
  for (let i = 0; i < 10; i++) {
    const before = s.app.requests.length;
    const r = await send({ port, framing: 'chunked', body: Buffer.alloc(2 * MB, 'a'), headers: { 'content-type': 'application/jose+json' }, timeoutMs: 5000 });
    t.equal(r.status, 413, `try ${i}: 413`);
    t.equal(r.headers['content-type'], 'application/json', `try ${i}: JSON`);
    t.equal(json(r).code, 'BODY_TOO_LARGE', `try ${i}: code BODY_TOO_LARGE (${json(r).message})`);
    t.ok(r.headAfterMs < 1000, `try ${i}: answered in ${r.headAfterMs} ms`);
    t.equal(s.app.requests.length, before, `try ${i}: the app got nothing`);
  }
  await checkAlive(t, s, 'after ten');
  // And the ingress still serves a good envelope.
  const id = await testIdentity();
  const ok = sealRequest('still here', { jwk: id.keys.rsa.publicJwk });
  const r = await send({ port, framing: 'chunked', body: Buffer.from(ok.body), headers: { 'content-type': ok.contentType } });
  t.equal(r.status, 200);
  t.equal(openResponse(r.body, ok).toString(), `got 10 ${sha('still here')}`);
});

t.test('body matrix: sizes x framings x content types', async (t) => {
  const s = await startIngressStack(t, { app: summaryApp });
  const port = Number(new URL(s.url).port);
  const jwk = (await testIdentity()).keys.rsa.publicJwk;
  const sizes = [0, 1, 1024, LIMIT - 1, LIMIT, LIMIT + 1, 2 * MB, 16 * MB];
  const framings: Framing[] = ['content-length', 'chunked', 'http2'];
  const types = ['application/jose+json', 'application/jose', 'text/plain', 'application/octet-stream'] as const;
  let n = 0;
  for (const size of sizes) {
    for (const framing of framings) {
      for (const type of types) {
        const envelope = type === 'application/jose+json' || type === 'application/jose';
        const what = `${size} B, ${framing}, ${type}`;
        // Envelope types get a valid envelope of exactly this size where one fits
        // (>= 1 KiB); below that, bytes that cannot be one. Other types get plain bytes.
        const sealed = envelope && size >= 1024 && size <= LIMIT ? envelopeOfSize(size, type === 'application/jose' ? 'compact' : 'flattened', jwk) : undefined;
        const body = sealed ? Buffer.from(sealed.body) : Buffer.alloc(size, 'a');
        t.equal(body.length, size, `${what}: the body is ${size} bytes`);
        const before = s.app.requests.length;
        const r = await send({ port, framing, body, headers: { 'content-type': type }, timeoutMs: 10_000 });
        if (size > LIMIT) {
          t.equal(r.status, 413, `${what}: 413`);
          t.equal(json(r).code, 'BODY_TOO_LARGE', `${what}: BODY_TOO_LARGE`);
          t.ok(r.headAfterMs < 1000, `${what}: answered in ${r.headAfterMs} ms`);
          t.equal(s.app.requests.length, before, `${what}: the app got nothing`);
        } else if (sealed) {
          t.equal(r.status, 200, `${what}: 200`);
          t.equal(openResponse(r.body, sealed).toString(), `got ${sealed.plaintext.length} ${sha(sealed.plaintext)}`, `${what}: the app got exactly the plaintext`);
        } else if (envelope) {
          t.equal(r.status, 400, `${what}: 400`);
          t.equal(json(r).code, 'MALFORMED_ENVELOPE', `${what}: MALFORMED_ENVELOPE`);
          t.equal(s.app.requests.length, before, `${what}: the app got nothing`);
        } else {
          t.equal(r.status, 200, `${what}: plain bytes pass`);
          t.equal(r.body, `got ${size} ${sha(body)}`, `${what}: the app got them unchanged`);
        }
        t.equal(r.headers['content-type'] === 'application/json' || r.status === 200, true, `${what}: errors are JSON`);
        if (++n % 12 === 0) await checkAlive(t, s, `after ${n} requests`);
      }
    }
  }
  await checkAlive(t, s, 'after the matrix');
});

t.test('an app that stalls mid-response: JSON 504 at the stream idle timeout, Envoy alive', async (t) => {
  const s = await startIngressStack(t, {
    limits: { streamIdleTimeoutSeconds: 2 },
    app: (_req, _body, res) => {
      res.setHeader('content-type', 'text/plain');
      res.write('part of the answer');
      const timer = setTimeout(() => res.end(), 20_000);
      res.on('close', () => clearTimeout(timer));
    },
  });
  const port = Number(new URL(s.url).port);
  const jwk = (await testIdentity()).keys.rsa.publicJwk;
  for (let i = 0; i < 3; i++) {
    const e = sealRequest('hi', { jwk });
    const r = await send({ port, framing: 'content-length', body: Buffer.from(e.body), headers: { 'content-type': e.contentType }, timeoutMs: 10_000 });
    t.equal(r.status, 504, `try ${i}: 504`);
    t.equal(json(r).code, 'UPSTREAM_TIMEOUT', `try ${i}: UPSTREAM_TIMEOUT`);
    t.ok(r.headAfterMs >= 1900 && r.headAfterMs < 4000, `try ${i}: at the idle timeout (${r.headAfterMs} ms)`);
    t.notMatch(r.body, /part of the answer/, `try ${i}: nothing of the plaintext`);
  }
  await checkAlive(t, s, 'after three stalls');
});

t.test('slow drip, 50 concurrent 2 MB uploads, a response over the limit, tampered envelopes', async (t) => {
  const s = await startIngressStack(t, {
    limits: { requestTimeoutSeconds: 2 },
    app: (req, body, res) => {
      const big = /^\/big\/(\d+)$/.exec(req.url ?? '');
      if (big) {
        res.setHeader('content-type', 'application/octet-stream');
        const all = Buffer.alloc(Number(big[1]), 'z');
        // A write before end: chunked, no content-length for ext-proc to see.
        if (req.headers['x-chunked']) res.write(all.subarray(0, 1000));
        res.end(req.headers['x-chunked'] ? all.subarray(1000) : all);
        return;
      }
      summaryApp(req, body, res);
    },
  });
  const port = Number(new URL(s.url).port);
  const jwk = (await testIdentity()).keys.rsa.publicJwk;

  // A body dripped a few bytes at a time is cut off by the request timeout (2 s here).
  let before = s.app.requests.length;
  const drip = await send({ port, framing: 'chunked', body: Buffer.alloc(4096, 'a'), chunkBytes: 8, delayMs: 100, headers: { 'content-type': 'application/jose+json' }, timeoutMs: 8000 });
  t.equal(drip.status, 408, 'slow drip: 408');
  t.equal(json(drip).code, 'REQUEST_TIMEOUT', 'slow drip: REQUEST_TIMEOUT');
  t.ok(drip.headAfterMs >= 1900 && drip.headAfterMs < 3500, `slow drip: cut at the request timeout (${drip.headAfterMs} ms)`);
  t.equal(s.app.requests.length, before, 'slow drip: the app got nothing');
  await checkAlive(t, s, 'after the drip');

  // 50 uploads of 2 MB at once, each framing and type in turn.
  before = s.app.requests.length;
  const framings: Framing[] = ['content-length', 'chunked', 'http2'];
  const t0 = Date.now();
  const all = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      send({ port, framing: framings[i % 3]!, body: Buffer.alloc(2 * MB, 'b'), headers: { 'content-type': i % 2 ? 'application/jose+json' : 'text/plain' }, timeoutMs: 15_000 }),
    ),
  );
  t.same([...new Set(all.map((r) => r.status))], [413], '50 concurrent 2 MB uploads: all 413');
  t.same([...new Set(all.map((r) => json(r).code))], ['BODY_TOO_LARGE'], 'all BODY_TOO_LARGE');
  t.ok(Date.now() - t0 < 10_000, `all answered in ${Date.now() - t0} ms`);
  t.ok(Math.max(...all.map((r) => r.headAfterMs)) < 5000, `slowest head after ${Math.max(...all.map((r) => r.headAfterMs))} ms`);
  t.equal(s.app.requests.length, before, 'the app got none of them');
  await checkAlive(t, s, 'after 50 concurrent uploads');

  // The app answers an envelope with more than Envoy's buffer (ext_proc holds
  // the response to encrypt it): nothing goes out in the clear, and the JSON
  // error names Envoy's reason.
  for (const [path, extra] of [
    [`/big/${2 * MB}`, {}],
    [`/big/${LIMIT + 10}`, { 'x-chunked': '1' }],
  ] as const) {
    const e = sealRequest('give me a lot', { jwk });
    const r = await send({ port, framing: 'content-length', path, body: Buffer.from(e.body), headers: { 'content-type': e.contentType, ...extra } });
    const how = Object.keys(extra).length ? 'chunked' : 'with a length';
    t.equal(r.status, 500, `response over the limit (${path}, ${how}): 500`);
    t.equal(json(r).code, 'INGRESS_ERROR', `${how}: INGRESS_ERROR`);
    t.match(json(r).message, /\(response_payload_too_large\); nothing was sent in the clear/, `${how}: the reason is named`);
    t.ok(r.headAfterMs < 1000, `${how}: answered in ${r.headAfterMs} ms`);
    t.notMatch(r.body, /zzzz/, `${how}: no byte of the plaintext response`);
  }
  await checkAlive(t, s, 'after oversized responses');

  // A flipped IV of valid length, a flipped byte of the protected header.
  const good = () => JSON.parse(sealRequest('secret', { jwk }).body) as Record<string, string>;
  const flip = (b64: string, at: number) => {
    const b = Buffer.from(b64, 'base64url');
    b[at]! ^= 0x01;
    return b.toString('base64url');
  };
  before = s.app.requests.length;
  const iv = await send({ port, framing: 'content-length', body: Buffer.from(JSON.stringify({ ...good(), iv: flip(good().iv!, 3) })), headers: { 'content-type': 'application/jose+json' } });
  t.equal(iv.status, 400, 'flipped IV: 400');
  t.equal(json(iv).code, 'DECRYPT_FAILED', 'flipped IV: DECRYPT_FAILED');
  // Byte 2 of {"alg":... is the "a" of alg: the header then has no alg at all.
  const hdr = await send({ port, framing: 'content-length', body: Buffer.from(JSON.stringify({ ...good(), protected: flip(good().protected!, 2) })), headers: { 'content-type': 'application/jose+json' } });
  t.equal(hdr.status, 400, 'flipped header byte: 400');
  t.equal(json(hdr).code, 'MALFORMED_ENVELOPE', 'flipped header byte: MALFORMED_ENVELOPE');
  t.match(json(hdr).message, /the JWE header has no "alg" member \(altered or not a JWE header\)/, 'a clear message, not "alg undefined"');
  t.equal(s.app.requests.length, before, 'the app got neither');
});
