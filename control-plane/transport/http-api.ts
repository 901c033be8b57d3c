// The control plane's HTTP surface (fastify): dynamic routing API, app config,
// secrets metadata, status JSON + page, OpenAPI at /openapi.json. Handlers
// only adapt: validation is the JSON schema (TypeBox), semantics are in the core.
import swagger from '@fastify/swagger';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ControlPlaneCore } from '../core/control-plane.ts';
import type { RoutingSync } from '../core/routing-sync.ts';
import { AppConfig } from '../core/app-config.ts';
import { ClusterSpec, RouteSpec } from '../core/plugins/route.ts';
import { statusDocument, type StatusSources } from '../core/status-view.ts';
import { STATUS_PAGE } from './status-page.ts';
import { guardAdmin } from '../../net/admin-guard.ts';
import type { ListenEndpoint } from '../../net/listen.ts';

const NameParams = Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }) });
const ClusterBody = Type.Omit(ClusterSpec, ['name'], { additionalProperties: false });
const RouteBody = Type.Omit(RouteSpec, ['name'], { additionalProperties: false });
const ErrorBody = Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) });

export async function registerControlPlaneApi(
  app: FastifyInstance,
  deps: { id: string; core: ControlPlaneCore; sync: RoutingSync; token?: string; sources?: StatusSources; endpoint?: ListenEndpoint },
): Promise<void> {
  const { core, sync } = deps;
  // Every change needs the token (or a client certificate), even on loopback;
  // reads (status page included) too once the API is reachable beyond this host.
  guardAdmin(app, { token: deps.token, endpoint: deps.endpoint ?? {}, tokenField: 'api.tokenFile' });
  await app.register(swagger, {
    openapi: {
      info: { title: 'aenv control plane', version: '1.0.0', description: 'Dynamic routing, app config and xDS status of the attestation-aware Envoy control plane' },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(STATUS_PAGE));
  app.get('/status', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(STATUS_PAGE));
  app.get('/v1/status', { schema: { summary: 'Nodes, ACKed versions, last NACKs, secrets, snapshot versions, recent capsule-manager decisions' } }, async () => statusDocument(deps.id, core, sync, deps.sources));

  app.get('/v1/app-config', { schema: { summary: 'The current app config' } }, async () => core.app);
  app.put('/v1/app-config', { schema: { summary: 'Replace the app config (validated and translated before it is applied)', body: AppConfig, response: { 400: ErrorBody, 412: ErrorBody } } }, async (req) => {
    const snap = core.setAppConfig(req.body);
    return { snapshot: snap.label };
  });

  const KeyParams = Type.Object({ key: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' }) });
  app.get('/v1/nodes/:key/app-config', { schema: { summary: 'The app config of one node key (404 if it uses the default)', params: KeyParams, response: { 404: ErrorBody } } }, async (req, reply) => {
    const a = core.nodeApp((req.params as { key: string }).key);
    return a ?? reply.status(404).send({ code: 'NOT_FOUND', message: 'this node uses the default app config' });
  });
  app.put('/v1/nodes/:key/app-config', { schema: { summary: 'Give one node key its own app config', params: KeyParams, body: AppConfig, response: { 400: ErrorBody, 412: ErrorBody } } }, async (req) => {
    return { snapshot: core.setNodeAppConfig((req.params as { key: string }).key, req.body).label };
  });
  app.delete('/v1/nodes/:key/app-config', { schema: { summary: 'Return one node key to the default app config', params: KeyParams, response: { 404: ErrorBody } } }, async (req) => {
    core.setNodeAppConfig((req.params as { key: string }).key, undefined);
    return { ok: true };
  });

  app.get('/v1/routing', { schema: { summary: 'Dynamic routes and clusters with their revision' } }, async () => core.routing);
  app.put('/v1/clusters/:name', { schema: { summary: 'Add or replace a cluster', params: NameParams, body: ClusterBody, response: { 400: ErrorBody, 412: ErrorBody } } }, async (req) => {
    const { name } = req.params as { name: string };
    return sync.propose({ op: 'putCluster', cluster: { ...(req.body as Omit<ClusterSpec, 'name'>), name } });
  });
  app.delete('/v1/clusters/:name', { schema: { summary: 'Remove a cluster (refused while a route uses it)', params: NameParams, response: { 404: ErrorBody, 412: ErrorBody } } }, async (req) => {
    const { name } = req.params as { name: string };
    return sync.propose({ op: 'deleteCluster', name });
  });
  app.put('/v1/routes/:name', { schema: { summary: 'Add or replace a route (its cluster must exist)', params: NameParams, body: RouteBody, response: { 400: ErrorBody, 412: ErrorBody } } }, async (req) => {
    const { name } = req.params as { name: string };
    return sync.propose({ op: 'putRoute', route: { ...(req.body as Omit<RouteSpec, 'name'>), name } });
  });
  app.delete('/v1/routes/:name', { schema: { summary: 'Remove a route', params: NameParams, response: { 404: ErrorBody } } }, async (req) => {
    const { name } = req.params as { name: string };
    return sync.propose({ op: 'deleteRoute', name });
  });
  app.get('/v1/secrets', { schema: { summary: 'SDS secrets: names, subjects and expiry (never key material)' } }, async () => core.secrets.list());
}
