// gRPC transport: envoy.service.ext_proc.v3.ExternalProcessor. One stream per HTTP
// request; each ProcessingRequest gets exactly one ProcessingResponse, computed by
// the pure EnvelopeExchange. Failures become immediate 4xx responses with a JSON
// {code, message} body, so nothing reaches the app (interface 1 of the team brief).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../foundation/logger.ts';
import type { HeaderValue } from '../../proto/gen/envoy/config/core/v3/base.ts';
import { HeaderValueOption_HeaderAppendAction } from '../../proto/gen/envoy/config/core/v3/base.ts';
import { ProcessingMode_BodySendMode, ProcessingMode_HeaderSendMode } from '../../proto/gen/envoy/extensions/filters/http/ext_proc/v3/processing_mode.ts';
import {
  CommonResponse_ResponseStatus,
  ExternalProcessorService,
  ProcessingResponse,
  type CommonResponse,
  type HeaderMutation,
  type ProcessingRequest,
} from '../../proto/gen/envoy/service/ext_proc/v3/external_processor.ts';
import type { ExtProcError } from '../errors.ts';
import { EnvelopeExchange, type Decision, type EnvelopeContext, type HeaderEdits } from '../core/envelope-exchange.ts';
import type { ExtProcMetrics } from './metrics.ts';

export const EXT_PROC_SERVICE = 'envoy.service.ext_proc.v3.ExternalProcessor';

function headerMap(hs: HeaderValue[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const h of hs ?? []) m.set(h.key.toLowerCase(), h.value !== '' ? h.value : h.rawValue.toString('latin1'));
  return m;
}

function mutation(edits: HeaderEdits | undefined): HeaderMutation | undefined {
  if (!edits) return undefined;
  return {
    setHeaders: edits.set.map(([key, v]) => ({
      header: { key, value: '', rawValue: Buffer.from(v, 'latin1') },
      append: undefined,
      appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
      keepEmptyValue: false,
    })),
    removeHeaders: edits.remove,
  };
}

/** Plain pass-through: ask Envoy for nothing more on this request (allow_mode_override). */
const SKIP_ALL = {
  requestHeaderMode: ProcessingMode_HeaderSendMode.SEND,
  responseHeaderMode: ProcessingMode_HeaderSendMode.SKIP,
  requestBodyMode: ProcessingMode_BodySendMode.NONE,
  responseBodyMode: ProcessingMode_BodySendMode.NONE,
  requestTrailerMode: ProcessingMode_HeaderSendMode.SKIP,
  responseTrailerMode: ProcessingMode_HeaderSendMode.SKIP,
};
const SKIP_RESPONSE_BODY = { ...SKIP_ALL, responseHeaderMode: ProcessingMode_HeaderSendMode.SEND };

function immediate(error: ExtProcError): ProcessingResponse {
  return ProcessingResponse.fromPartial({
    immediateResponse: {
      status: { code: error.httpStatus },
      headers: mutation({ set: [['content-type', 'application/json']], remove: [] }),
      body: Buffer.from(JSON.stringify(error.toJSON())),
      details: `aenv_ext_proc_${error.code.toLowerCase()}`,
    },
  });
}

function common(d: Decision): Partial<CommonResponse> {
  if (d.kind === 'replace') {
    return { status: CommonResponse_ResponseStatus.CONTINUE, headerMutation: mutation(d.headers), bodyMutation: { body: d.body } };
  }
  if (d.kind === 'continue' && d.headers) return { headerMutation: mutation(d.headers) };
  return {};
}

export interface ExtProcServiceOptions {
  context: EnvelopeContext;
  logger: Logger;
  metrics?: ExtProcMetrics;
}

/**
 * Answers one ProcessingRequest; `last` is true when Envoy will send nothing more
 * on this stream (plain pass, immediate response, response body answered), so the
 * server closes it cleanly instead of waiting for Envoy's reset (a reset costs an
 * Error with a stack trace per request in Node's http2).
 * Response headers are not skipped for envelopes even though the body phase could
 * carry the header edits: with response_header_mode SKIP, Envoy forwards the
 * headers at once (chunked, the app's content-type), so they can no longer be
 * fixed (checked against Envoy 1.40).
 */
export function respond(ex: EnvelopeExchange, req: ProcessingRequest, onError: (e: ExtProcError) => void): { res: ProcessingResponse; last: boolean } | undefined {
  if (req.requestHeaders) {
    const d = ex.onRequestHeaders(headerMap(req.requestHeaders.headers?.headers), req.requestHeaders.endOfStream);
    if (d.kind === 'reject') return onError(d.error), { res: immediate(d.error), last: true };
    if (d.kind === 'pass') return { res: ProcessingResponse.fromPartial({ requestHeaders: { response: {} }, modeOverride: SKIP_ALL }), last: true };
    return { res: ProcessingResponse.fromPartial({ requestHeaders: { response: common(d) } }), last: false };
  }
  if (req.requestBody) {
    const d = ex.onRequestBody(req.requestBody.body);
    if (d.kind === 'reject') return onError(d.error), { res: immediate(d.error), last: true };
    // A sniffed body that is no envelope passes as it is, and so does its
    // response: ending the stream now tells Envoy to go on without ext_proc, so
    // the response streams instead of being buffered for us (and capped at
    // Envoy's buffer). Envoy 1.40 ignores a mode override on a body response,
    // and it resets a side stream the server ends before the response phase:
    // one reset per plain sniffed request, bounded per connection by the
    // ext_proc cluster's maxRequestsPerConnection (see online.ts).
    return { res: ProcessingResponse.fromPartial({ requestBody: { response: common(d) } }), last: !ex.encryptsResponse };
  }
  if (req.responseHeaders) {
    const d = ex.onResponseHeaders(headerMap(req.responseHeaders.headers?.headers));
    // A plain (sniffed) request: the response body need not come to us.
    const last = !ex.encryptsResponse || req.responseHeaders.endOfStream;
    return { res: ProcessingResponse.fromPartial({ responseHeaders: { response: common(d) }, ...(ex.encryptsResponse ? {} : { modeOverride: SKIP_RESPONSE_BODY }) }), last };
  }
  if (req.responseBody) {
    const d = ex.onResponseBody(req.responseBody.body);
    if (d.kind === 'reject') return onError(d.error), { res: immediate(d.error), last: true };
    return { res: ProcessingResponse.fromPartial({ responseBody: { response: common(d) } }), last: req.responseBody.endOfStream };
  }
  if (req.requestTrailers) return { res: ProcessingResponse.fromPartial({ requestTrailers: {} }), last: false };
  if (req.responseTrailers) return { res: ProcessingResponse.fromPartial({ responseTrailers: {} }), last: true };
  return undefined;
}

export function createExtProcServer(opts: ExtProcServiceOptions): grpc.Server {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.context.maxBodyBytes * 2 + 65536,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    // One side stream per HTTP request: channelz bookkeeping per stream cost
    // ~7% of ext-proc's CPU under load (profile of bench/ext-proc-envelope.ts).
    'grpc.enable_channelz': 0,
  });
  const { logger, metrics } = opts;
  server.addService(ExternalProcessorService, {
    process(call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) {
      const ex = new EnvelopeExchange(opts.context);
      const onError = (e: ExtProcError): void => {
        metrics?.errors.inc({ code: e.code });
        // The cause is a crypto library error: logged at debug, never sent.
        logger.info({ code: e.code }, 'envelope rejected');
        if (e.cause) logger.debug({ code: e.code, err: String((e.cause as Error).message ?? e.cause) }, 'rejection cause');
      };
      call.on('data', (req: ProcessingRequest) => {
        let out: ReturnType<typeof respond>;
        try {
          out = respond(ex, req, onError);
          if (req.requestBody && ex.isEnvelope) metrics?.decrypts.inc({ alg: ex.alg ?? 'unknown' });
        } catch (err) {
          // Unexpected: fail closed with an error on the stream; Envoy (failure_mode_allow
          // false) answers the client with 500 and forwards nothing.
          logger.error({ err: (err as Error).message }, 'ext_proc internal error');
          metrics?.errors.inc({ code: 'INTERNAL' });
          call.destroy(err as Error);
          return;
        }
        if (!out) return;
        call.write(out.res);
        if (out.last) call.end();
      });
      call.on('end', () => {
        if (call.writable) call.end();
      });
      call.on('error', () => undefined);
    },
  });
  return server;
}
