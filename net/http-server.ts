// HTTP transport helpers shared by every fastify service: AppError -> status and
// JSON body, schema errors reported all at once, /health and /metrics.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { ErrorObject } from 'ajv';
import { formatAjvErrors } from '../foundation/config.ts';
import { toPublicError } from '../foundation/errors.ts';
import type { Logger } from '../foundation/logger.ts';

export interface HttpServiceOptions {
  logger?: Logger;
  metrics?: Registry;
  bodyLimit?: number;
  fastify?: FastifyServerOptions;
}

export function createHttpService(opts: HttpServiceOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger,
    // Per-request access logs are off: services log decisions themselves.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: false, useDefaults: true } },
    ...opts.fastify,
  }) as unknown as FastifyInstance;
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

/** Listens on loopback (port 0 by default) and returns the port. */
export async function listenHttp(app: FastifyInstance, port = 0, host = '127.0.0.1'): Promise<number> {
  await app.listen({ port, host });
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}
