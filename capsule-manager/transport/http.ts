// HTTP JSON API (fastify) for the same operations as gRPC:
//   POST /api/v1/GetRaCert         GetRaCertRequest JSON  -> GetRaCertResponse JSON
//   POST /api/v1/<EncryptedRpc>    EncryptedRequest JSON  -> EncryptedResponse JSON
//   GET  /api/v1/audit/recent?limit=N  the last allow/deny decisions (operators)
// Bodies are the proto JSON of secretflowapis v2 (snake_case). OpenAPI at /openapi.json.
import { createHash, timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { createHttpService } from '../../net/http-server.ts';
import type { ListenEndpoint } from '../../net/listen.ts';
import type { Logger } from '../../foundation/logger.ts';
import type { Registry } from 'prom-client';
import { EncryptedRequest, EncryptedResponse, GetRaCertResponse } from '../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { Status } from '../../proto/gen/secretflowapis/v2/status.ts';
import { Jwe } from '../../proto/gen/secretflowapis/v2/sdc/jwt.ts';
import { ENCRYPTED_RPCS, type CapsuleManagerService } from '../core/capsule-manager-service.ts';
import type { RecentDecisions } from '../core/recent-decisions.ts';
import { CmError } from '../errors.ts';

const jweSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['protected', 'ciphertext'],
  properties: {
    protected: { type: 'string', maxLength: 8192 },
    encrypted_key: { type: 'string', maxLength: 8192 },
    iv: { type: 'string', maxLength: 64 },
    ciphertext: { type: 'string', maxLength: 6 * 1024 * 1024 },
    tag: { type: 'string', maxLength: 64 },
    aad: { type: 'string', maxLength: 8192 },
  },
} as const;

const encryptedRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['message'],
  properties: {
    header: { type: 'object', properties: { custom_headers: { type: 'object', additionalProperties: { type: 'string' } } } },
    message: jweSchema,
    has_signature: { type: 'boolean' },
  },
} as const;

const statusSchema = { type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' } } } as const;

const decisionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['time', 'action', 'initiator_party_id', 'decision'],
  properties: {
    time: { type: 'string', description: 'ISO-8601' },
    action: { type: 'string', description: 'the RPC (GetDataKeys, GetTlsAsset, GetExportDataKey, an owner operation refused, ...)' },
    initiator_party_id: { type: 'string' },
    resource_uri: { type: 'string', description: 'the resource, or a comma-joined list for multi-resource requests' },
    decision: { type: 'string', enum: ['allow', 'deny'] },
    reason: { type: 'string' },
    replica: { type: 'string', description: 'the CM replica that decided (with the replicated audit stream of the NATS store)' },
  },
} as const;

export interface HttpApiOptions {
  log?: Logger;
  metrics?: Registry;
  /** Serves GET /api/v1/audit/recent when given. */
  recent?: RecentDecisions;
  /** Bearer token required by /api/v1/audit/recent (mandatory off loopback; start.ts enforces it). */
  auditToken?: string;
  /** The endpoint it will listen on (mutual TLS when it has `tls`). */
  endpoint?: ListenEndpoint;
}

export async function buildHttpApi(svc: CapsuleManagerService, opts: HttpApiOptions = {}): Promise<FastifyInstance> {
  const app = createHttpService({ logger: opts.log, metrics: opts.metrics, bodyLimit: 8 * 1024 * 1024, ...(opts.endpoint ? { endpoint: opts.endpoint } : {}) });
  await app.register(swagger, {
    openapi: {
      info: { title: 'aenv capsule manager', version: '1.0.0', description: 'secretflowapis v2 CapsuleManager over HTTP JSON (same operations as gRPC)' },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  if (opts.recent) {
    const recent = opts.recent;
    const expected = opts.auditToken ? createHash('sha256').update(opts.auditToken).digest() : undefined;
    app.get(
      '/api/v1/audit/recent',
      {
        schema: {
          summary: 'The last allow/deny decisions, newest first (operator endpoint: loopback or behind the operator network; bearer token when http.auditTokenFile is set)',
          // Query strings stay strings (no type coercion in this service): checked below.
          querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'string', pattern: '^[0-9]{1,4}$' } } },
          response: { 200: { type: 'object', additionalProperties: false, required: ['records'], properties: { records: { type: 'array', items: decisionSchema } } } },
        },
      },
      async (req) => {
        if (expected) {
          const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
          // compare digests: equal length, constant time
          const got = createHash('sha256').update(m?.[1] ?? '').digest();
          if (!m || !timingSafeEqual(got, expected)) throw new CmError('UNAUTHENTICATED', 'a valid bearer token is required for the audit records');
        }
        const raw = (req.query as { limit?: string }).limit;
        const limit = raw === undefined ? 20 : Number(raw);
        if (!Number.isInteger(limit) || limit < 1 || limit > recent.capacity) throw new CmError('INVALID_REQUEST', `limit must be an integer from 1 to ${recent.capacity}`);
        return { records: recent.list(limit) };
      },
    );
  }
  app.post(
    '/api/v1/GetRaCert',
    {
      schema: {
        summary: 'The capsule manager certificate and its attestation report (report data = SHA-256(cert "." nonce))',
        body: { type: 'object', required: ['nonce'], properties: { nonce: { type: 'string', minLength: 1, maxLength: 256 }, header: { type: 'object' } } },
        response: { 200: { type: 'object', properties: { status: statusSchema, cert: { type: 'string' }, attestation_report: { type: 'object', additionalProperties: true } } } },
      },
    },
    async (req) => GetRaCertResponse.toJSON(GetRaCertResponse.fromJSON(await svc.getRaCert(req.body as { nonce: string }))),
  );
  for (const rpc of ENCRYPTED_RPCS) {
    app.post(
      `/api/v1/${rpc}`,
      {
        schema: {
          summary: `${rpc}: EncryptedRequest (JWE of the JWS-signed ${rpc} request) -> EncryptedResponse`,
          body: encryptedRequestSchema,
          response: { 200: { type: 'object', description: 'EncryptedResponse; note: secretflowapis v2 names the status field "has_signature" in JSON', properties: { has_signature: statusSchema, message: jweSchema } } },
        },
      },
      async (req) => {
        const pb = EncryptedRequest.fromJSON(req.body);
        const r = await svc.handle(rpc, EncryptedRequest.toJSON(pb) as never);
        return EncryptedResponse.toJSON(EncryptedResponse.fromPartial({ status: Status.fromPartial(r.status), message: r.message ? Jwe.fromJSON(r.message) : undefined }));
      },
    );
  }
  return app;
}
