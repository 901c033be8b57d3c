// The protobuf wire form of the ext_proc side stream, by hand for the fields
// ext-proc reads and writes. Per message, ts-proto's generated code built the
// whole ProcessingRequest (a Buffer.alloc(0) per header value, a copy of every
// body) and wrote each ProcessingResponse through a growing BinaryWriter and a
// final copy: 20-25% of ext-proc's CPU per `dir` request under load (profile of
// bench/ext-proc-envelope.ts). Here a request is read in one pass into what the
// exchange needs (the header map, the body as a view of the received message),
// and a response is written into one buffer of its exact size. The bytes are
// those ts-proto writes for the same message (test/ext-proc/wire.test.ts checks
// both directions against the generated code).
import { HeaderValueOption_HeaderAppendAction } from '../../proto/gen/envoy/config/core/v3/base.ts';
import { ProcessingMode_BodySendMode, ProcessingMode_HeaderSendMode } from '../../proto/gen/envoy/extensions/filters/http/ext_proc/v3/processing_mode.ts';
import { ProcessingResponse } from '../../proto/gen/envoy/service/ext_proc/v3/external_processor.ts';
import type { HeaderEdits } from '../core/envelope-exchange.ts';

/** A headers phase: the header map as the exchange reads it (lower-case names; `value`, else `raw_value` as latin1). */
export interface PhaseHeaders {
  headers: Map<string, string>;
  endOfStream: boolean;
}

/** A body phase: `body` is a view of the received message (not copied). */
export interface PhaseBody {
  body: Buffer;
  endOfStream: boolean;
}

/** The ProcessingRequest fields ext-proc acts on (the oneof `request`); the rest is skipped. */
export interface PhaseRequest {
  requestHeaders?: PhaseHeaders;
  responseHeaders?: PhaseHeaders;
  requestBody?: PhaseBody;
  responseBody?: PhaseBody;
  requestTrailers?: true;
  responseTrailers?: true;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

function malformed(what: string): Error {
  return new Error(`malformed ProcessingRequest: ${what}`);
}

/** A cursor over one message's bytes; `end` bounds the (sub)message being read. */
class Reader {
  pos: number;
  constructor(readonly buf: Buffer, pos: number, readonly end: number) {
    this.pos = pos;
  }

  varint(): number {
    // Values here are tags, lengths and bools: 32 bits are enough, like ts-proto's
    // uint32(); a longer varint (an int64 field we skip) is read to its end.
    const buf = this.buf;
    let v = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw malformed('truncated varint');
      const b = buf[this.pos++]!;
      if (shift < 32) v |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v >>> 0;
      shift += 7;
      if (shift >= 70) throw malformed('varint too long');
    }
  }

  /** A field tag; field number 0 is no field (the generated decoder stops there: refused). */
  tag(): number {
    const t = this.varint();
    if (t >>> 3 === 0) throw malformed('field number 0');
    return t;
  }

  /** Reads a length prefix and returns the end of the field's bytes. */
  lenEnd(): number {
    const n = this.varint();
    const e = this.pos + n;
    if (e > this.end) throw malformed('length beyond the message');
    return e;
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_LEN) this.pos = this.lenEnd();
    else if (wire === WIRE_FIXED64) this.advance(8);
    else if (wire === WIRE_FIXED32) this.advance(4);
    else throw malformed(`wire type ${wire}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw malformed('truncated field');
    this.pos += n;
  }
}

/** HeaderValue {key = 1, value = 2, raw_value = 3} into `into`, as headerMap did it. */
function readHeaderValue(r: Reader, end: number, into: Map<string, string>): void {
  let key = '';
  let value = '';
  let rawStart = 0;
  let rawEnd = 0;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === 0x0a) {
      const e = r.lenEnd();
      key = r.buf.toString('utf8', r.pos, e);
      r.pos = e;
    } else if (tag === 0x12) {
      const e = r.lenEnd();
      value = r.buf.toString('utf8', r.pos, e);
      r.pos = e;
    } else if (tag === 0x1a) {
      const e = r.lenEnd();
      rawStart = r.pos;
      rawEnd = e;
      r.pos = e;
    } else r.skip(tag & 7);
  }
  if (r.pos !== end) throw malformed('header value overruns');
  into.set(key.toLowerCase(), value !== '' ? value : r.buf.toString('latin1', rawStart, rawEnd));
}

/** HttpHeaders {headers = 1 (HeaderMap {headers = 1 repeated HeaderValue}), end_of_stream = 3}. */
function readHttpHeaders(r: Reader, end: number): PhaseHeaders {
  let headers = new Map<string, string>();
  let endOfStream = false;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === 0x0a) {
      // A repeated message field seen twice: the last wins, as in ts-proto.
      headers = new Map();
      const mapEnd = r.lenEnd();
      while (r.pos < mapEnd) {
        const t = r.tag();
        if (t === 0x0a) {
          const e = r.lenEnd();
          readHeaderValue(r, e, headers);
        } else r.skip(t & 7);
      }
      if (r.pos !== mapEnd) throw malformed('header map overruns');
    } else if (tag === 0x18) endOfStream = r.varint() !== 0;
    else r.skip(tag & 7);
  }
  if (r.pos !== end) throw malformed('headers overrun');
  return { headers, endOfStream };
}

/** HttpBody {body = 1, end_of_stream = 2}. */
function readHttpBody(r: Reader, end: number): PhaseBody {
  let body: Buffer = EMPTY;
  let endOfStream = false;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === 0x0a) {
      const e = r.lenEnd();
      body = r.buf.subarray(r.pos, e);
      r.pos = e;
    } else if (tag === 0x10) endOfStream = r.varint() !== 0;
    else r.skip(tag & 7);
  }
  if (r.pos !== end) throw malformed('body overruns');
  return { body, endOfStream };
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads the phase of a ProcessingRequest: request_headers = 2, response_headers = 3,
 * request_body = 4, response_body = 5, request_trailers = 6, response_trailers = 7
 * (metadata_context, attributes and observability_mode are skipped). Throws on
 * bytes that are no protobuf message, so that grpc-js fails the stream.
 */
export function decodeProcessingRequest(buf: Buffer): PhaseRequest {
  const r = new Reader(buf, 0, buf.length);
  const out: PhaseRequest = {};
  while (r.pos < buf.length) {
    const tag = r.tag();
    switch (tag) {
      case 0x12: out.requestHeaders = readHttpHeaders(r, r.lenEnd()); break;
      case 0x1a: out.responseHeaders = readHttpHeaders(r, r.lenEnd()); break;
      case 0x22: out.requestBody = readHttpBody(r, r.lenEnd()); break;
      case 0x2a: out.responseBody = readHttpBody(r, r.lenEnd()); break;
      case 0x32: r.pos = r.lenEnd(); out.requestTrailers = true; break;
      case 0x3a: r.pos = r.lenEnd(); out.responseTrailers = true; break;
      default: r.skip(tag & 7);
    }
  }
  return out;
}

// ---- responses

/** ProcessingResponse fields of the four phases (HeadersResponse / BodyResponse). */
export const PHASE_FIELD = { requestHeaders: 1, responseHeaders: 2, requestBody: 3, responseBody: 4 } as const;
export type PhaseField = (typeof PHASE_FIELD)[keyof typeof PHASE_FIELD];

function varintLen(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Bytes of a length-delimited field with a one-byte tag and `n` bytes of payload. */
function fieldLen(n: number): number {
  return 1 + varintLen(n) + n;
}

function putVarint(out: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
  return pos;
}

function putLenTag(out: Buffer, pos: number, tag: number, n: number): number {
  out[pos++] = tag;
  return putVarint(out, pos, n);
}

const OVERWRITE: number = HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD;

interface Sizes {
  /** Per set header: [key bytes, value bytes, HeaderValue bytes, HeaderValueOption bytes]. */
  set: Array<[number, number, number, number]>;
  remove: number[];
  mutation: number;
}

function mutationSizes(edits: HeaderEdits): Sizes {
  const set: Sizes['set'] = [];
  let mutation = 0;
  for (const [k, v] of edits.set) {
    const kb = Buffer.byteLength(k, 'utf8');
    const vb = v.length; // latin1: one byte per character
    const hv = (kb ? fieldLen(kb) : 0) + (vb ? fieldLen(vb) : 0);
    const hvo = fieldLen(hv) + (OVERWRITE !== 0 ? 1 + varintLen(OVERWRITE) : 0);
    set.push([kb, vb, hv, hvo]);
    mutation += fieldLen(hvo);
  }
  const remove = edits.remove.map((s) => Buffer.byteLength(s, 'utf8'));
  for (const n of remove) mutation += fieldLen(n);
  return { set, remove, mutation };
}

/**
 * HeaderMutation {set_headers = 1: HeaderValueOption {header = 1: HeaderValue
 * {key = 1, raw_value = 3}, append_action = 3: OVERWRITE_IF_EXISTS_OR_ADD},
 * remove_headers = 2}: what mutation() in ext-proc-grpc.ts built for ts-proto.
 */
function putMutation(out: Buffer, pos: number, edits: HeaderEdits, s: Sizes): number {
  for (let i = 0; i < edits.set.length; i++) {
    const [k, v] = edits.set[i]!;
    const [kb, vb, hv, hvo] = s.set[i]!;
    pos = putLenTag(out, pos, 0x0a, hvo);
    pos = putLenTag(out, pos, 0x0a, hv);
    if (kb) {
      pos = putLenTag(out, pos, 0x0a, kb);
      pos += out.write(k, pos, kb, 'utf8');
    }
    if (vb) {
      pos = putLenTag(out, pos, 0x1a, vb);
      pos += out.write(v, pos, vb, 'latin1');
    }
    if (OVERWRITE !== 0) {
      out[pos++] = 0x18;
      pos = putVarint(out, pos, OVERWRITE);
    }
  }
  for (let i = 0; i < edits.remove.length; i++) {
    const n = s.remove[i]!;
    pos = putLenTag(out, pos, 0x12, n);
    pos += out.write(edits.remove[i]!, pos, n, 'utf8');
  }
  return pos;
}

/**
 * ProcessingResponse { <phase> = HeadersResponse|BodyResponse { response =
 * CommonResponse { header_mutation = 2, body_mutation = 3 { body = 1 } } } }
 * followed by `tail` (pre-encoded later fields, e.g. mode_override = 9). The
 * status stays CONTINUE (0, not written). `body` undefined: no body mutation;
 * an empty body is a body mutation to the empty body.
 */
export function encodePhaseResponse(field: PhaseField, headers: HeaderEdits | undefined, body: Buffer | undefined, tail: Buffer = EMPTY): Buffer {
  const s = headers ? mutationSizes(headers) : undefined;
  const bodyMutation = body ? fieldLen(body.length) : 0;
  const common = (s ? fieldLen(s.mutation) : 0) + (body ? fieldLen(bodyMutation) : 0);
  const phase = fieldLen(common);
  const out = Buffer.allocUnsafe(fieldLen(phase) + tail.length);
  let pos = putLenTag(out, 0, (field << 3) | WIRE_LEN, phase);
  pos = putLenTag(out, pos, 0x0a, common);
  if (s) {
    pos = putLenTag(out, pos, 0x12, s.mutation);
    pos = putMutation(out, pos, headers!, s);
  }
  if (body) {
    pos = putLenTag(out, pos, 0x1a, bodyMutation);
    pos = putLenTag(out, pos, 0x0a, body.length);
    pos += body.copy(out, pos);
  }
  pos += tail.copy(out, pos);
  if (pos !== out.length) throw new Error(`ProcessingResponse size mismatch (${pos} of ${out.length})`);
  return out;
}

/** Encoded with the generated code, once: responses that never change. */
function encoded(m: object): Buffer {
  return Buffer.from(ProcessingResponse.encode(ProcessingResponse.fromPartial(m as never)).finish());
}

/** Plain pass-through: ask Envoy for nothing more on this request (allow_mode_override). */
export const SKIP_ALL = {
  requestHeaderMode: ProcessingMode_HeaderSendMode.SEND,
  responseHeaderMode: ProcessingMode_HeaderSendMode.SKIP,
  requestBodyMode: ProcessingMode_BodySendMode.NONE,
  responseBodyMode: ProcessingMode_BodySendMode.NONE,
  requestTrailerMode: ProcessingMode_HeaderSendMode.SKIP,
  responseTrailerMode: ProcessingMode_HeaderSendMode.SKIP,
};
/** A plain (sniffed) request's response headers: the response body need not come. */
export const SKIP_RESPONSE_BODY = { ...SKIP_ALL, responseHeaderMode: ProcessingMode_HeaderSendMode.SEND };

/** `mode_override = 9` alone, to follow a phase response. */
export const SKIP_RESPONSE_BODY_TAIL = encoded({ modeOverride: SKIP_RESPONSE_BODY });

/** Pre-encoded ProcessingResponses. */
export const CONSTANT = {
  /** request headers answered, all further phases off (a plain request). */
  pass: encoded({ requestHeaders: { response: {} }, modeOverride: SKIP_ALL }),
  requestHeaders: encoded({ requestHeaders: { response: {} } }),
  requestBody: encoded({ requestBody: { response: {} } }),
  responseHeaders: encoded({ responseHeaders: { response: {} } }),
  responseHeadersSkipBody: encoded({ responseHeaders: { response: {} }, modeOverride: SKIP_RESPONSE_BODY }),
  responseBody: encoded({ responseBody: { response: {} } }),
  requestTrailers: encoded({ requestTrailers: {} }),
  responseTrailers: encoded({ responseTrailers: {} }),
} as const;
