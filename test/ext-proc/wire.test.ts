// ext-proc's own codec for the ext_proc side stream (ext-proc/transport/ext-proc-wire.ts),
// checked against the generated ts-proto code both ways: any request the generated
// encoder writes is read into the same phase, header map and body; any response it
// writes is byte for byte what the generated encoder writes for the same message;
// arbitrary bytes are either read as the generated decoder reads them or refused
// with a "malformed" error (never another exception); and over real gRPC a
// malformed message fails that stream only.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { HeaderValueOption_HeaderAppendAction, type HeaderValue } from '../../proto/gen/envoy/config/core/v3/base.ts';
import { ProcessingRequest, ProcessingResponse } from '../../proto/gen/envoy/service/ext_proc/v3/external_processor.ts';
import { CONSTANT, decodeProcessingRequest, encodePhaseResponse, PHASE_FIELD, SKIP_RESPONSE_BODY, SKIP_RESPONSE_BODY_TAIL, type PhaseField, type PhaseRequest } from '../../ext-proc/transport/ext-proc-wire.ts';
import { createExtProcServer } from '../../ext-proc/transport/ext-proc-grpc.ts';
import type { HeaderEdits } from '../../ext-proc/core/envelope-exchange.ts';
import { createEphemeralAppIdentity } from '../../platforms/index.ts';
import { CONTENT_ENCS, KEY_ALGS } from '../../ext-proc/config.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { checkProperty, fc } from '../fuzz/fuzz-config.ts';

/** What the transport read before: the generated decoder, then headerMap (lower-case keys, value else raw_value as latin1). */
function viaGenerated(buf: Uint8Array): PhaseRequest {
  const m = ProcessingRequest.decode(buf);
  const hdrs = (h: { headers?: { headers: HeaderValue[] } | undefined; endOfStream: boolean }) => {
    const map = new Map<string, string>();
    for (const v of h.headers?.headers ?? []) map.set(v.key.toLowerCase(), v.value !== '' ? v.value : Buffer.from(v.rawValue).toString('latin1'));
    return { headers: map, endOfStream: h.endOfStream };
  };
  const out: PhaseRequest = {};
  if (m.requestHeaders) out.requestHeaders = hdrs(m.requestHeaders);
  if (m.responseHeaders) out.responseHeaders = hdrs(m.responseHeaders);
  if (m.requestBody) out.requestBody = { body: Buffer.from(m.requestBody.body), endOfStream: m.requestBody.endOfStream };
  if (m.responseBody) out.responseBody = { body: Buffer.from(m.responseBody.body), endOfStream: m.responseBody.endOfStream };
  if (m.requestTrailers) out.requestTrailers = true;
  if (m.responseTrailers) out.responseTrailers = true;
  return out;
}

/** Comparable form: maps as entry lists, bodies as hex. */
function plain(p: PhaseRequest): unknown {
  const h = (x: PhaseRequest['requestHeaders']) => x && { headers: [...x.headers.entries()], endOfStream: x.endOfStream };
  const b = (x: PhaseRequest['requestBody']) => x && { body: x.body.toString('hex'), endOfStream: x.endOfStream };
  return { rqh: h(p.requestHeaders), rsh: h(p.responseHeaders), rqb: b(p.requestBody), rsb: b(p.responseBody), rqt: p.requestTrailers ?? false, rst: p.responseTrailers ?? false };
}

// Header names and values as Envoy sends them (printable ASCII, mixed case), plus any UTF-8.
const token = fc.oneof(fc.stringMatching(/^[!-~]{0,24}$/), fc.string({ maxLength: 16, unit: 'grapheme' }));
const headerValue = fc.record({
  key: token,
  value: fc.oneof(fc.constant(''), token),
  rawValue: fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b))),
});
const httpHeaders = fc.record({
  headers: fc.record({ headers: fc.array(headerValue, { maxLength: 12 }) }),
  endOfStream: fc.boolean(),
  // Fields ext-proc does not read: skipped, whatever they hold.
  attributes: fc.dictionary(fc.string({ maxLength: 8 }), fc.constant({ a: 1 }), { maxKeys: 2 }),
});
const httpBody = fc.record({ body: fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)), endOfStream: fc.boolean() });
const request = fc.oneof(
  httpHeaders.map((h) => ({ requestHeaders: h })),
  httpHeaders.map((h) => ({ responseHeaders: h })),
  httpBody.map((b) => ({ requestBody: b })),
  httpBody.map((b) => ({ responseBody: b })),
  fc.constant({ requestTrailers: { trailers: { headers: [{ key: 'x', value: 'y', rawValue: Buffer.alloc(0) }] } } }),
  fc.constant({ responseTrailers: {} }),
).chain((phase) =>
  fc.record({ observabilityMode: fc.boolean(), protocolConfig: fc.option(fc.record({ sendBodyWithoutWaitingForHeaderResponse: fc.boolean() }), { nil: undefined }) }).map((extra) => ({ ...phase, ...extra })),
);

t.test('requests: read as the generated decoder reads them', async (t) => {
  await checkProperty(t, 'any ProcessingRequest the generated encoder writes', [request], (m) => {
    const bytes = Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromPartial(m as never)).finish());
    const ours = decodeProcessingRequest(bytes);
    if (JSON.stringify(plain(ours)) !== JSON.stringify(plain(viaGenerated(bytes)))) throw new Error(`differs: ${JSON.stringify(plain(ours))} vs ${JSON.stringify(plain(viaGenerated(bytes)))}`);
  }, { runs: 400 });

  // A body is a view of the received message, not a copy.
  const bytes = Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromPartial({ requestBody: { body: Buffer.from('hello'), endOfStream: true } })).finish());
  const r = decodeProcessingRequest(bytes);
  t.equal(r.requestBody?.body.buffer, bytes.buffer, 'body shares the message buffer');
  t.equal(r.requestBody?.body.toString(), 'hello');
  t.equal(r.requestBody?.endOfStream, true);
  // Repeated header names: the last wins, as before.
  const dup = Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromPartial({ requestHeaders: { headers: { headers: [{ key: 'Content-Type', value: 'a' }, { key: 'content-type', rawValue: Buffer.from('b\xff', 'latin1') }] } } })).finish());
  t.same([...decodeProcessingRequest(dup).requestHeaders!.headers], [['content-type', 'b\xff']], 'lower-cased, raw_value as latin1, the last one wins');
});

t.test('requests: arbitrary bytes are read like the generated decoder or refused as malformed', async (t) => {
  const valid = request.map((m) => Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromPartial(m as never)).finish()));
  // Mutations of valid messages (truncated, a byte flipped, bytes appended) and plain noise.
  const bytes = fc.oneof(
    fc.tuple(valid, fc.nat()).map(([b, n]) => b.subarray(0, b.length ? n % b.length : 0)),
    fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([b, i, v]) => {
      const c = Buffer.from(b);
      if (c.length) c[i % c.length] = v;
      return c;
    }),
    fc.tuple(valid, fc.uint8Array({ maxLength: 12 })).map(([b, x]) => Buffer.concat([b, x])),
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  );
  let refused = 0;
  let read = 0;
  let lenient = 0;
  await checkProperty(t, 'decodeProcessingRequest over mutated and random bytes', [bytes], (b) => {
    let ours: PhaseRequest;
    try {
      ours = decodeProcessingRequest(b);
    } catch (err) {
      if (!/^malformed ProcessingRequest/.test((err as Error).message)) throw new Error(`not a malformed error: ${String(err)}`);
      refused++;
      return;
    }
    read++;
    // Where the generated decoder reads it too, the same phases, header counts and bodies.
    // Ours reads only the fields it acts on: bytes broken only inside a field it skips
    // (trailers, attributes, metadata) are refused by the generated decoder, which parses
    // every nested message, and accepted here, where nothing of them is used.
    let gen: PhaseRequest;
    try {
      gen = viaGenerated(b);
    } catch {
      lenient++;
      return;
    }
    const shape = (p: PhaseRequest) => JSON.stringify(plain(p), (k, v) => (k === 'headers' ? (v as unknown[]).length : v));
    if (shape(ours) !== shape(gen)) throw new Error(`differs: ${shape(ours)} vs ${shape(gen)}`);
  }, { runs: 1500 });
  t.ok(refused > 50 && read - lenient > 50, `both outcomes exercised (${refused} refused, ${read} read, ${lenient} of them only here)`);
  for (const [b, why] of [[Buffer.from([0x22, 0x05, 0x0a]), 'length beyond the message'], [Buffer.from([0x80]), 'truncated varint'], [Buffer.from([0x0b]), 'wire type 3'], [Buffer.from([0x22, 0x02, 0x0a, 0x05]), 'length beyond the message']] as const) {
    t.throws(() => decodeProcessingRequest(b), new RegExp(`malformed ProcessingRequest: ${why}`), why);
  }
});

const edits: fc.Arbitrary<HeaderEdits> = fc.record({
  set: fc.array(fc.tuple(token, fc.oneof(fc.constant(''), fc.stringMatching(/^[ -~\u0080-\u00ff]{0,60}$/))), { maxLength: 5 }),
  remove: fc.array(token, { maxLength: 4 }),
});

/** The same response built by the generated code: what ext-proc-grpc.ts wrote before. */
function generated(field: PhaseField, headers: HeaderEdits | undefined, body: Buffer | undefined, skipBody: boolean): Buffer {
  const name = (['', 'requestHeaders', 'responseHeaders', 'requestBody', 'responseBody'] as const)[field];
  const response = {
    ...(headers
      ? {
          headerMutation: {
            setHeaders: headers.set.map(([key, v]) => ({ header: { key, value: '', rawValue: Buffer.from(v, 'latin1') }, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD })),
            removeHeaders: headers.remove,
          },
        }
      : {}),
    ...(body ? { bodyMutation: { body } } : {}),
  };
  return Buffer.from(ProcessingResponse.encode(ProcessingResponse.fromPartial({ [name]: { response }, ...(skipBody ? { modeOverride: SKIP_RESPONSE_BODY } : {}) })).finish());
}

t.test('responses: byte for byte what the generated encoder writes', async (t) => {
  const field = fc.constantFrom<PhaseField>(...Object.values(PHASE_FIELD));
  const body = fc.option(fc.uint8Array({ maxLength: 70_000 }).map((b) => Buffer.from(b)), { nil: undefined });
  await checkProperty(t, 'encodePhaseResponse against ProcessingResponse.encode', [field, fc.option(edits, { nil: undefined }), body, fc.boolean()], (f, h, b, skip) => {
    const ours = encodePhaseResponse(f, h, b, skip ? SKIP_RESPONSE_BODY_TAIL : undefined);
    const gen = generated(f, h, b, skip);
    if (!ours.equals(gen)) throw new Error(`bytes differ (${ours.length} vs ${gen.length})`);
  }, { runs: 300 });
  t.same(ProcessingResponse.decode(CONSTANT.pass).modeOverride?.requestBodyMode, 0, 'pass: mode override turns the bodies off');
  t.ok(ProcessingResponse.decode(CONSTANT.responseHeadersSkipBody).responseHeaders, 'constants decode to their phase');
  t.ok(encodePhaseResponse(PHASE_FIELD.requestBody, undefined, Buffer.alloc(0)).equals(generated(PHASE_FIELD.requestBody, undefined, Buffer.alloc(0), false)), 'an empty body is a mutation to the empty body');
});

t.test('over gRPC: a malformed message fails its stream only; the server keeps serving', async (t) => {
  const identity = await createEphemeralAppIdentity('wire');
  const server = createExtProcServer({ context: { identity, sessions: undefined, compat: 'rfc7516', plain: 'allow', maxBodyBytes: 4096, algorithms: KEY_ALGS, encryptions: CONTENT_ENCS }, logger: silentLogger });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  t.teardown(() => server.forceShutdown());
  const Client = grpc.makeGenericClientConstructor({ process: { path: '/envoy.service.ext_proc.v3.ExternalProcessor/Process', requestStream: true, responseStream: true, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'ExternalProcessor');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { process(): grpc.ClientDuplexStream<Buffer, Buffer>; close(): void };
  t.teardown(() => client.close());
  const exchange = (msg: Buffer) =>
    new Promise<{ replies: Buffer[]; code: number }>((res) => {
      const call = client.process();
      const replies: Buffer[] = [];
      call.on('data', (b: Buffer) => {
        replies.push(b);
        call.end();
      });
      call.on('error', (e: grpc.ServiceError) => res({ replies, code: e.code }));
      call.on('status', (s: grpc.StatusObject) => s.code === grpc.status.OK && res({ replies, code: 0 }));
      call.write(msg);
    });
  const bad = await exchange(Buffer.from([0x12, 0x7f, 0x0a]));
  t.same(bad.replies, [], 'no reply to a malformed message');
  t.not(bad.code, grpc.status.OK, `the stream fails (gRPC status ${bad.code})`);
  const good = await exchange(Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromPartial({ requestHeaders: { headers: { headers: [{ key: 'content-type', value: 'text/plain' }] }, endOfStream: false } })).finish()));
  t.equal(good.replies.length, 1, 'the next stream is served');
  t.ok(ProcessingResponse.decode(good.replies[0]!).requestHeaders, 'a request-headers answer');
});
