// Admin HTTP API (loopback): revocations and trusted groups at runtime.
//   GET    /v1/revocations                 -> {version, parties, fingerprints}
//   POST   /v1/revocations  {parties?, fingerprints?}          revoke (all or nothing)
//   DELETE /v1/revocations  {parties?, fingerprints?}          un-revoke
//   GET    /v1/groups                       -> {groups: [groupId]}
//   PUT    /v1/groups/:groupId  {caCertPem} trust a group CA
//   DELETE /v1/groups/:groupId
// plus /health and /metrics from the kernel.
import type { FastifyInstance } from 'fastify';
import type { Authorizer } from '../core/authorizer.ts';

const RevBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    parties: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 10_000 },
    fingerprints: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 10_000 },
  },
} as const;

export function registerAdminApi(app: FastifyInstance, authorizer: Authorizer, onRevocation: () => void): void {
  app.get('/v1/revocations', async () => authorizer.revocations.snapshot());
  app.post<{ Body: { parties?: string[]; fingerprints?: string[] } }>('/v1/revocations', { schema: { body: RevBody } }, async (req) => {
    const s = authorizer.revocations.apply({ addParties: req.body.parties ?? [], addFingerprints: req.body.fingerprints ?? [] });
    onRevocation();
    return s;
  });
  app.delete<{ Body: { parties?: string[]; fingerprints?: string[] } }>('/v1/revocations', { schema: { body: RevBody } }, async (req) => {
    const s = authorizer.revocations.apply({ removeParties: req.body.parties ?? [], removeFingerprints: req.body.fingerprints ?? [] });
    onRevocation();
    return s;
  });
  app.get('/v1/groups', async () => ({ groups: authorizer.groups() }));
  app.put<{ Params: { groupId: string }; Body: { caCertPem: string } }>('/v1/groups/:groupId', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['caCertPem'], properties: { caCertPem: { type: 'string', minLength: 1, maxLength: 65_536 } } } },
  }, async (req) => {
    authorizer.setGroup(req.params.groupId, req.body.caCertPem);
    return { groups: authorizer.groups() };
  });
  app.delete<{ Params: { groupId: string } }>('/v1/groups/:groupId', async (req, reply) => {
    if (!authorizer.removeGroup(req.params.groupId)) return reply.status(404).send({ code: 'NOT_FOUND', message: `group ${req.params.groupId} is not trusted` });
    return { groups: authorizer.groups() };
  });
}
