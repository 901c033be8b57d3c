// gRPC transport: envoy.service.ext_proc.v3.ExternalProcessor. One stream per HTTP
// request; each ProcessingRequest gets exactly one ProcessingResponse, computed by
// the pure EnvelopeExchange. Failures become immediate 4xx responses with a JSON
// {code, message} body, so nothing reaches the app (interface 1 of the team brief).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../foundation/logger.ts';
import { HeaderValueOption_HeaderAppendAction } from '../../proto/gen/envoy/config/core/v3/base.ts';
import { ExternalProcessorService, ProcessingResponse, type HeaderMutation } from '../../proto/gen/envoy/service/ext_proc/v3/external_processor.ts';
import type { ExtProcError } from '../errors.ts';
import { EnvelopeExchange, type Decision, type EnvelopeContext, type HeaderEdits } from '../core/envelope-exchange.ts';
import type { ExtProcMetrics } from './metrics.ts';
import { CONSTANT, decodeProcessingRequest, encodePhaseResponse, PHASE_FIELD, SKIP_RESPONSE_BODY_TAIL, type PhaseField, type PhaseRequest } from './ext-proc-wire.ts';

export const EXT_PROC_SERVICE = 'envoy.service.ext_proc.v3.ExternalProcessor';

function mutation(edits: HeaderEdits): HeaderMutation {
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

/** Rare (a rejection): written by the generated code. */
function immediate(error: ExtProcError): Buffer {
  return Buffer.from(ProcessingResponse.encode(ProcessingResponse.fromPartial({
    immediateResponse: {
      status: { code: error.httpStatus },
      headers: mutation({ set: [['content-type', 'application/json']], remove: [] }),
      body: Buffer.from(JSON.stringify(error.toJSON())),
      details: `aenv_ext_proc_${error.code.toLowerCase()}`,
    },
  })).finish());
}

/**
 * The phase's answer to a continue/replace decision: the constant CONTINUE
 * when nothing changes, else CONTINUE with the header and body mutations
 * (status CONTINUE; a replaced body is a body mutation).
 */
function common(field: PhaseField, d: Decision, constant: Buffer, tail?: Buffer): Buffer {
  if (d.kind === 'replace') return encodePhaseResponse(field, d.headers, d.body, tail);
  if (d.kind === 'continue' && d.headers) return encodePhaseResponse(field, d.headers, undefined, tail);
  return constant;
}

/**
 * The ExternalProcessor service with ext-proc's own codec (ext-proc-wire.ts):
 * requests arrive as the phase fields the exchange reads, responses leave as
 * bytes (constant or written once). Same path and messages as the generated
 * ExternalProcessorService, so Envoy and any gRPC client see no difference.
 */
const ExtProcWireService = {
  process: {
    path: ExternalProcessorService.process.path,
    requestStream: true,
    responseStream: true,
    requestSerialize: (): Buffer => {
      throw new Error('ext-proc only serves this method');
    },
    requestDeserialize: decodeProcessingRequest,
    responseSerialize: (b: Buffer): Buffer => b,
    responseDeserialize: (b: Buffer): Buffer => b,
  },
} satisfies grpc.ServiceDefinition;

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
export function respond(ex: EnvelopeExchange, req: PhaseRequest, onError: (e: ExtProcError) => void): { res: Buffer; last: boolean } | undefined {
  if (req.requestHeaders) {
    const d = ex.onRequestHeaders(req.requestHeaders.headers, req.requestHeaders.endOfStream);
    if (d.kind === 'reject') return onError(d.error), { res: immediate(d.error), last: true };
    if (d.kind === 'pass') return { res: CONSTANT.pass, last: true };
    return { res: common(PHASE_FIELD.requestHeaders, d, CONSTANT.requestHeaders), last: false };
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
    return { res: common(PHASE_FIELD.requestBody, d, CONSTANT.requestBody), last: !ex.encryptsResponse };
  }
  if (req.responseHeaders) {
    const d = ex.onResponseHeaders(req.responseHeaders.headers);
    // A plain (sniffed) request: the response body need not come to us.
    const last = !ex.encryptsResponse || req.responseHeaders.endOfStream;
    const res = ex.encryptsResponse
      ? common(PHASE_FIELD.responseHeaders, d, CONSTANT.responseHeaders)
      : common(PHASE_FIELD.responseHeaders, d, CONSTANT.responseHeadersSkipBody, SKIP_RESPONSE_BODY_TAIL);
    return { res, last };
  }
  if (req.responseBody) {
    const d = ex.onResponseBody(req.responseBody.body);
    if (d.kind === 'reject') return onError(d.error), { res: immediate(d.error), last: true };
    return { res: common(PHASE_FIELD.responseBody, d, CONSTANT.responseBody), last: req.responseBody.endOfStream };
  }
  if (req.requestTrailers) return { res: CONSTANT.requestTrailers, last: false };
  if (req.responseTrailers) return { res: CONSTANT.responseTrailers, last: true };
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
  server.addService(ExtProcWireService, {
    process(call: grpc.ServerDuplexStream<PhaseRequest, Buffer>) {
      const ex = new EnvelopeExchange(opts.context);
      const onError = (e: ExtProcError): void => {
        metrics?.rejected(e.code);
        // The cause is a crypto library error: logged at debug, never sent.
        logger.info({ code: e.code }, 'envelope rejected');
        if (e.cause) logger.debug({ code: e.code, err: String((e.cause as Error).message ?? e.cause) }, 'rejection cause');
      };
      call.on('data', (req: PhaseRequest) => {
        let out: ReturnType<typeof respond>;
        try {
          out = respond(ex, req, onError);
          if (req.requestBody && ex.isEnvelope) metrics?.decrypted(ex.alg ?? 'unknown');
        } catch (err) {
          // Unexpected: fail closed with an error on the stream; Envoy (failure_mode_allow
          // false) answers the client with 500 and forwards nothing.
          logger.error({ err: (err as Error).message }, 'ext_proc internal error');
          metrics?.rejected('INTERNAL');
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
