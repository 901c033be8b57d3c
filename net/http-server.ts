// HTTP transport helpers shared by every fastify service: AppError -> status and
// JSON body, schema errors reported all at once, /health and /metrics.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { ErrorObject } from 'ajv';
import { formatAjvErrors } from '../foundation/config.ts';
import { toPublicError } from '../foundation/errors.ts';
import type { Logger } from '../foundation/logger.ts';
import { httpsOptions, listenKind, NetError, prepareSocket, restrictSocket, type ListenEndpoint } from './listen.ts';

export interface HttpServiceOptions {
  logger?: Logger;
  metrics?: Registry;
  bodyLimit?: number;
  fastify?: FastifyServerOptions;
  /** The endpoint it will listen on: with `tls` the service is created for mutual TLS. */
  endpoint?: ListenEndpoint;
  /** The config field naming the endpoint, for errors. */
  what?: string;
}

/** Services created with mutual TLS (an mtls endpoint needs one). */
const tlsServices = new WeakSet<FastifyInstance>();

export function createHttpService(opts: HttpServiceOptions = {}): FastifyInstance {
  const https = opts.endpoint ? httpsOptions(opts.endpoint, opts.what ?? 'http') : undefined;
  const app = Fastify({
    ...(https ? { https } : {}),
    loggerInstance: opts.logger,
    // Per-request access logs are off: services log decisions themselves.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: false, useDefaults: true } },
    ...opts.fastify,
  }) as unknown as FastifyInstance;
  if (https) tlsServices.add(app);
  app.setErrorHandler((err, req, reply) => {
    const e = err as { validation?: ErrorObject[]; validationContext?: string; statusCode?: number; code?: string; message: string };
    if (e.validation) {
      const where = e.validationContext && e.validationContext !== 'body' ? `${e.validationContext} ` : '';
      const errors = formatAjvErrors(e.validation).map((m) => `${where}${m}`);
      return reply.status(400).send({ code: 'INVALID_REQUEST', message: `request is invalid: ${errors.join('; ')}`, details: { errors } });
    }
    if (e.statusCode && e.statusCode < 500 && !(err instanceof Error && 'kind' in err)) {
      return reply.status(e.statusCode).send({ code: e.code ?? 'BAD_REQUEST', message: e.message });
    }
    const pub = toPublicError(err);
    if (pub.httpStatus >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: pub.body.code }, 'request rejected');
    return reply.status(pub.httpStatus).send(pub.body);
  });
  // Fastify's own 404 body is {message, error, statusCode}; every other refusal
  // of these services is {code, message}, so an unknown route (or a path that
  // normalises to one, e.g. /v1/clusters/..) answers in the same shape.
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ code: 'NOT_FOUND', message: `no route for ${req.method} ${req.url.slice(0, 200)}` }));
  app.get('/health', async () => ({ status: 'ok' }));
  if (opts.metrics) {
    const registry = opts.metrics;
    app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  }
  return app;
}

/**
 * Listens per the endpoint (loopback port 0 by default; a Unix socket with its
 * permissions; mutual TLS when the service was created with `endpoint.tls`) and
 * returns the TCP port (0 for a Unix socket). A plaintext bind beyond loopback
 * is refused (net/listen.ts).
 */
export async function listenHttp(app: FastifyInstance, portOrEndpoint: number | ListenEndpoint = 0, host = '127.0.0.1', what = 'http', protectedBy?: string): Promise<number> {
  const ep: ListenEndpoint = typeof portOrEndpoint === 'number' ? { port: portOrEndpoint, host } : portOrEndpoint;
  const kind = listenKind(ep, what, protectedBy);
  if (kind === 'unix') {
    await prepareSocket(ep.socket!, what);
    await app.listen({ path: ep.socket! });
    restrictSocket(ep.socket!, ep.socketMode);
    return 0;
  }
  if (kind === 'mtls' && !tlsServices.has(app)) {
    throw new NetError('INSECURE_LISTEN', `${what}.tls is set but the service was not created for TLS (createHttpService endpoint)`);
  }
  await app.listen({ port: ep.port ?? 0, host: ep.host ?? '127.0.0.1' });
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : (ep.port ?? 0);
}
