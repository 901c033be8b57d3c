// Envoy's protective limits, set explicitly on every listener a plugin makes
// (Envoy's own defaults are tuned for trusted traffic: 300 s stream idle
// timeout, no request timeout, 256 MiB HTTP/2 stream windows). One schema with
// documented defaults; plugins take it as their `limits` field.
//   https://www.envoyproxy.io/docs/envoy/latest/configuration/best_practices/edge
//
// The request body limit is enforced by Envoy's buffer filter placed first in the
// HTTP filter chain, before ext_authz and ext_proc. Why first: with ext_proc in
// BUFFERED mode behind ext_authz, a chunked body that grows past the
// per-connection buffer limit while the authorization check is in flight makes
// Envoy read-disable the connection (watermark) instead of answering 413; the
// check then completes, ext_proc waits for an end of stream that can no longer
// arrive, and the request hangs until the stream idle timeout (reproduced on
// Envoy 1.40 with our ext-proc and with a no-op ext_proc server alike; see
// docs/threat-model.md). The buffer filter holds the whole request, up to the
// limit, before any filter that waits, and answers 413 past it whatever the
// framing (content-length, chunked, HTTP/2 without a length).
import { Type, type Static } from '@sinclair/typebox';
import { ComparisonFilter_Op } from '../../../proto/gen/envoy/config/accesslog/v3/accesslog.ts';
import { Buffer as BufferFilter } from '../../../proto/gen/envoy/extensions/filters/http/buffer/v3/buffer.ts';
import type { HttpConnectionManager, HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.ts';
import type { DeepPartial } from '../xds/snapshot.ts';
import { pack } from '../xds/type-urls.ts';

const MiB = 1024 * 1024;

const httpLimitFields = {
    /** Envoy's per-connection read/write buffer (bytes); bounds a response the ext_proc filter buffers. */
    perConnectionBufferBytes: Type.Integer({ minimum: 16 * 1024, maximum: 64 * MiB, default: MiB }),
    /** Largest request header block (KiB); larger gets 431 HEADERS_TOO_LARGE (HTTP/1) or a stream reset (HTTP/2). */
    maxRequestHeadersKb: Type.Integer({ minimum: 1, maximum: 8192, default: 60 }),
    /** Most request headers. */
    maxHeadersCount: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    /** The whole request header block must arrive within this time (slow-headers clients). */
    requestHeadersTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 10 }),
    /** The whole request, body included, must arrive within this time (slow-drip bodies); 408 REQUEST_TIMEOUT. */
    requestTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 60 }),
    /** A stream with no activity in either direction for this long is ended. */
    streamIdleTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
    /** A downstream connection with no open stream for this long is closed. */
    connectionIdleTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
    http2: Type.Object(
      {
        /** Concurrent streams per downstream HTTP/2 connection. */
        maxConcurrentStreams: Type.Integer({ minimum: 1, maximum: 2_147_483_647, default: 100 }),
        /** Per-stream receive window (bytes); Envoy's edge recommendation is 64 KiB. */
        initialStreamWindowBytes: Type.Integer({ minimum: 65_535, maximum: 2_147_483_647, default: 65_536 }),
        /** Per-connection receive window (bytes). */
        initialConnectionWindowBytes: Type.Integer({ minimum: 65_535, maximum: 2_147_483_647, default: MiB }),
      },
      { additionalProperties: false, default: {} },
    ),
};

/** Limits of an HTTP listener that streams bodies (the route plugin). */
export const HttpLimits = Type.Object(httpLimitFields, { additionalProperties: false, default: {} });
export type HttpLimits = Static<typeof HttpLimits>;

/** Limits of an HTTP listener that holds whole requests (the online ingress): the above and a body limit. */
export const BufferedHttpLimits = Type.Object(
  {
    ...httpLimitFields,
    /** Largest request body (bytes) Envoy accepts, envelope or not; larger gets 413 BODY_TOO_LARGE within the first bytes past it. Keep it equal to ext-proc's maxBodyBytes. */
    maxRequestBytes: Type.Integer({ minimum: 1, maximum: 64 * MiB, default: MiB }),
  },
  { additionalProperties: false, default: {} },
);
export type BufferedHttpLimits = Static<typeof BufferedHttpLimits>;

/**
 * The answers Envoy itself gives on an ingress, each as JSON `{code, message}`
 * like our services' errors (a closed table: these codes and no others). Our
 * ext-proc and ext-authz already answer in JSON with their own codes and never
 * use these statuses, except 413 (the same shape and code here) and 500
 * (ext-proc's RESPONSE_ENCRYPT_FAILED, which then reads as INGRESS_ERROR).
 */
export const LOCAL_REPLY_CODES = {
  413: { code: 'BODY_TOO_LARGE', message: (l: HttpLimits) => ('maxRequestBytes' in l ? `request body exceeds ${String(l.maxRequestBytes)} bytes` : 'request body too large') },
  408: { code: 'REQUEST_TIMEOUT', message: (l: HttpLimits) => `the request did not arrive within ${l.requestTimeoutSeconds} s` },
  431: { code: 'HEADERS_TOO_LARGE', message: (l: HttpLimits) => `request headers exceed ${l.maxRequestHeadersKb} KiB or ${l.maxHeadersCount} headers` },
  // Envoy's own 500s: a response that outgrew the buffer, an ext_proc side stream
  // that failed. Envoy's response code details say which; nothing went out in the clear.
  500: { code: 'INGRESS_ERROR', message: () => 'the ingress could not complete this exchange (%RESPONSE_CODE_DETAILS%); nothing was sent in the clear' },
  503: { code: 'UPSTREAM_UNAVAILABLE', message: () => 'the service behind this ingress is unavailable' },
  504: { code: 'UPSTREAM_TIMEOUT', message: () => 'the service behind this ingress did not answer in time' },
} as const;
export type LocalReplyCode = (typeof LOCAL_REPLY_CODES)[keyof typeof LOCAL_REPLY_CODES]['code'];

const secs = (s: number) => ({ seconds: s, nanos: 0 });

/** The HCM fields that carry the limits, and the JSON local replies. */
export function hcmLimits(l: HttpLimits): DeepPartial<HttpConnectionManager> {
  return {
    maxRequestHeadersKb: l.maxRequestHeadersKb,
    requestHeadersTimeout: secs(l.requestHeadersTimeoutSeconds),
    requestTimeout: secs(l.requestTimeoutSeconds),
    streamIdleTimeout: secs(l.streamIdleTimeoutSeconds),
    commonHttpProtocolOptions: { idleTimeout: secs(l.connectionIdleTimeoutSeconds), maxHeadersCount: l.maxHeadersCount },
    http2ProtocolOptions: {
      maxConcurrentStreams: l.http2.maxConcurrentStreams,
      initialStreamWindowSize: l.http2.initialStreamWindowBytes,
      initialConnectionWindowSize: l.http2.initialConnectionWindowBytes,
    },
    localReplyConfig: {
      mappers: Object.entries(LOCAL_REPLY_CODES).map(([status, { code, message }]) => ({
        filter: { statusCodeFilter: { comparison: { op: ComparisonFilter_Op.EQ, value: { defaultValue: Number(status), runtimeKey: `aenv.local_reply.status_${status}` } } } },
        bodyFormatOverride: { jsonFormat: { code, message: message(l) }, contentType: 'application/json' },
      })),
    },
  };
}

/** The buffer filter that enforces maxRequestBytes; it goes first in the chain. */
export function bodyLimitFilter(l: BufferedHttpLimits): DeepPartial<HttpFilter> {
  return {
    name: 'envoy.filters.http.buffer',
    typedConfig: pack('type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer', BufferFilter.fromPartial({ maxRequestBytes: l.maxRequestBytes })),
  };
}
