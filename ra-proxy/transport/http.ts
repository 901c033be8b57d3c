// HTTP transport for the ra-proxy core (fastify). Routes:
//   POST /RaProxy/GetRaCert            Trustflow form {nonce} -> {status, cert, attestation_report}
//   GET|POST /.well-known/attestation  nonce-bound attestation document (interface 2)
//   GET /.well-known/sim-key           sim signing public key (only with the sim platform)
//   GET /health                        (from createHttpService)
import type { FastifyInstance } from 'fastify';
import { toPublicError } from '../../foundation/errors.ts';
import { RaProxyError } from '../errors.ts';
import type { RaService } from '../core/service.ts';

const NonceBody = {
  type: 'object',
  properties: { nonce: { type: 'string' }, header: { type: 'object' }, refresh_ra_report: { type: 'boolean' } },
} as const;

export function registerRaRoutes(app: FastifyInstance, svc: RaService, opts: { publishSimKey: boolean }): void {
  app.post('/RaProxy/GetRaCert', { schema: { body: NonceBody } }, async (req, reply) => {
    try {
      return await svc.getRaCert((req.body as { nonce?: unknown } | undefined)?.nonce);
    } catch (e) {
      // Trustflow clients read status.code / status.message from the body.
      const pub = toPublicError(e);
      if (pub.httpStatus >= 500) req.log.error({ err: e }, 'GetRaCert failed');
      return reply.status(pub.httpStatus).send({ status: { code: pub.grpcStatus, message: pub.body.message }, code: pub.body.code, message: pub.body.message });
    }
  });
  app.get('/.well-known/attestation', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const doc = await svc.attestationDocument(q.nonce);
    return reply.header('cache-control', 'no-store').send(doc);
  });
  app.post('/.well-known/attestation', { schema: { body: NonceBody } }, async (req, reply) => {
    const doc = await svc.attestationDocument((req.body as { nonce?: unknown } | undefined)?.nonce);
    return reply.header('cache-control', 'no-store').send(doc);
  });
  app.get('/.well-known/sim-key', async (_req, reply) => {
    const pem = opts.publishSimKey ? svc.simPublicKeyPem() : undefined;
    if (!pem) throw new RaProxyError('SIM_KEY_UNAVAILABLE', 'this ra-proxy does not use the sim platform or does not publish its key');
    return reply.type('application/x-pem-file').send(pem);
  });
}
