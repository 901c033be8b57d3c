import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { addReflection, bindServer, toGrpcError } from '../../net/grpc-server.ts';
import { createHttpService, listenHttp } from '../../net/http-server.ts';
import { createMetrics } from '../../foundation/metrics.ts';
import { grpcurlBin } from '../../dev/toolchain.ts';
import { defineErrors } from '../../foundation/errors.ts';
import { Type } from '@sinclair/typebox';

const run = promisify(execFile);
const KernelTestError = defineErrors('kernel-test', { NOPE: 'permission_denied' });

t.test('gRPC reflection lets grpcurl list and describe services', async (t) => {
  const server = new grpc.Server();
  addReflection(server, ['envoy.service.discovery.v3.AggregatedDiscoveryService']);
  const bound = await bindServer(server);
  t.teardown(() => bound.close());
  const list = await run(grpcurlBin(), ['-plaintext', bound.address, 'list']);
  t.match(list.stdout, /envoy\.service\.discovery\.v3\.AggregatedDiscoveryService/);
  const desc = await run(grpcurlBin(), ['-plaintext', bound.address, 'describe', 'envoy.service.discovery.v3.AggregatedDiscoveryService']);
  t.match(desc.stdout, /DeltaAggregatedResources/);
  const err = toGrpcError(new KernelTestError('NOPE', 'not allowed'));
  t.equal(err.code, grpc.status.PERMISSION_DENIED);
  t.match(err.details, /NOPE: not allowed/);
});

t.test('HTTP service: schema errors all at once, AppError mapped, /health and /metrics', async (t) => {
  const metrics = createMetrics('kernel_test');
  const hits = metrics.counter('hits_total', 'hits');
  const app = createHttpService({ metrics: metrics.registry });
  app.post('/thing', { schema: { body: Type.Object({ a: Type.Integer(), b: Type.String() }, { additionalProperties: false }) } }, async () => {
    hits.inc();
    return { ok: true };
  });
  app.get('/denied', async () => {
    throw new KernelTestError('NOPE', 'not allowed', { cause: new Error('internal reason') });
  });
  const port = await listenHttp(app);
  t.teardown(() => app.close());
  const base = `http://127.0.0.1:${port}`;
  const bad = await fetch(`${base}/thing`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 'x' }) });
  t.equal(bad.status, 400);
  const badBody = (await bad.json()) as { code: string; details: { errors: string[] } };
  t.equal(badBody.code, 'INVALID_REQUEST');
  t.ok(badBody.details.errors.length >= 2, 'both errors reported');
  const ok = await fetch(`${base}/thing`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1, b: 'x' }) });
  t.equal(ok.status, 200);
  const denied = await fetch(`${base}/denied`);
  t.equal(denied.status, 403);
  const deniedText = await denied.text();
  t.match(deniedText, /NOPE/);
  t.notMatch(deniedText, /internal reason/, 'cause stays server-side');
  t.same(await (await fetch(`${base}/health`)).json(), { status: 'ok' });
  t.match(await (await fetch(`${base}/metrics`)).text(), /aenv_kernel_test_hits_total 1/);
});

t.test('HTTP service names the unknown property in schema errors', async (t) => {
  const app = createHttpService();
  app.put('/x', { schema: { body: Type.Object({ a: Type.Integer() }, { additionalProperties: false }) } }, async () => ({ ok: true }));
  const port = await listenHttp(app);
  t.teardown(() => app.close());
  const r = await fetch(`http://127.0.0.1:${port}/x`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1, sneaky: 2 }) });
  t.equal(r.status, 400);
  t.match(await r.text(), /unknown property \\"sneaky\\"/);
});
