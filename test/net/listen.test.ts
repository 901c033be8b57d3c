// Who may connect, enforced where a socket is bound (net/listen.ts) and where
// an admin request arrives (net/admin-guard.ts): plaintext beyond loopback is
// refused; Unix sockets get their mode; mutual TLS needs a client certificate
// from the configured CA; every admin change needs a credential.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as http from 'node:http';
import * as https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { addReflection, bindServer } from '../../net/grpc-server.ts';
import { createHttpService, listenHttp } from '../../net/http-server.ts';
import { listenKind } from '../../net/listen.ts';
import { guardAdmin } from '../../net/admin-guard.ts';
import { grpcurlBin } from '../../dev/toolchain.ts';
import { privateDir } from '../helpers/admin-token.ts';
import { createTestCa, issueTestLeaf } from '../helpers/test-pki.ts';

const run = promisify(execFile);

t.test('plaintext TCP beyond loopback is refused; loopback, sockets, mTLS and a named protection are accepted', async (t) => {
  for (const host of ['0.0.0.0', '::', '10.1.2.3', '192.168.0.1', 'example.com']) {
    t.throws(() => listenKind({ host, port: 1 }, 'grpc'), { code: 'INSECURE_LISTEN', message: new RegExp(`grpc: plaintext TCP on ${host.replace(/\./g, '\\.')} is refused`) }, host);
  }
  for (const host of ['127.0.0.1', '127.9.8.7', '::1', 'localhost']) t.equal(listenKind({ host }, 'grpc'), 'tcp', host);
  t.equal(listenKind({ socket: '/run/x.sock', host: '0.0.0.0' }, 'grpc'), 'unix');
  t.equal(listenKind({ host: '0.0.0.0', tls: { certFile: 'c', keyFile: 'k', clientCaFile: 'ca' } }, 'grpc'), 'mtls');
  t.equal(listenKind({ host: '0.0.0.0' }, 'grpc', 'signed and encrypted envelopes'), 'tcp', 'an endpoint whose every request is authenticated otherwise');
  const dir = privateDir(t);
  await t.rejects(bindServer(new grpc.Server(), { host: '0.0.0.0', port: 0, what: 'ext-proc.grpc' }), { code: 'INSECURE_LISTEN', message: /ext-proc\.grpc/ });
  await t.rejects(bindServer(new grpc.Server(), { port: 0, tls: { certFile: join(dir, 'none'), keyFile: join(dir, 'none'), clientCaFile: join(dir, 'none') }, what: 'x' }), { code: 'INSECURE_LISTEN', message: /x\.tls\.clientCaFile .* cannot be read/ });
});

t.test('gRPC on a Unix socket: grpcurl reaches it, mode 0660 (or as configured), a stale file is replaced, a live one or a non-socket is refused', async (t) => {
  const dir = privateDir(t);
  const socket = join(dir, 'run', 'svc.sock');
  const server = new grpc.Server();
  addReflection(server, ['envoy.service.discovery.v3.AggregatedDiscoveryService']);
  const bound = await bindServer(server, { socket, what: 'svc' });
  t.teardown(() => bound.close());
  t.equal(bound.kind, 'unix');
  t.equal(bound.address, `unix:${socket}`);
  t.equal(statSync(socket).mode & 0o777, 0o660);
  const list = await run(grpcurlBin(), ['-plaintext', `unix://${socket}`, 'list']);
  t.match(list.stdout, /AggregatedDiscoveryService/, 'grpcurl unix://<path> lists the services');
  await t.rejects(bindServer(new grpc.Server(), { socket, what: 'svc' }), { code: 'SOCKET_IN_USE', message: /in use by another process/ }, 'a second server does not steal a live socket');

  // A socket file left by a crash (nobody listening) is replaced: a process that
  // bound it and died without unlinking leaves exactly that.
  const stale = join(dir, 'stale.sock');
  const made = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
  t.equal(made.status, 0, 'a dead process left a socket file');
  t.ok(statSync(stale).isSocket());
  const replaced = await bindServer(new grpc.Server(), { socket: stale, what: 'svc' });
  t.teardown(() => replaced.close());
  t.equal(replaced.kind, 'unix', 'the stale socket is replaced');
  writeFileSync(join(dir, 'plain-file'), 'x');
  await t.rejects(bindServer(new grpc.Server(), { socket: join(dir, 'plain-file'), what: 'svc' }), { code: 'SOCKET_IN_USE', message: /is not a socket/ });
  const again = await bindServer(new grpc.Server(), { socket: join(dir, 'again.sock'), socketMode: '0600', what: 'svc' });
  t.teardown(() => again.close());
  t.equal(statSync(join(dir, 'again.sock')).mode & 0o777, 0o600, 'socketMode applies');
});

t.test('HTTP on a Unix socket answers there and nowhere else', async (t) => {
  const dir = privateDir(t);
  const socket = join(dir, 'api.sock');
  const app = createHttpService();
  app.get('/hello', async () => ({ hi: true }));
  t.equal(await listenHttp(app, { socket }, undefined, 'api'), 0);
  t.teardown(() => app.close());
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ socketPath: socket, path: '/hello' }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(b)); }).on('error', reject);
  });
  t.same(JSON.parse(body), { hi: true });
  t.equal(statSync(socket).mode & 0o777, 0o660);
});

t.test('mutual TLS: no certificate or a foreign CA fails the handshake; a client certificate is an admin credential', async (t) => {
  const dir = privateDir(t);
  const ca = await createTestCa(dir, 'api-ca');
  const other = await createTestCa(dir, 'other-ca');
  const server = await issueTestLeaf(ca, dir, 'api-server', 'server');
  const client = await issueTestLeaf(ca, dir, 'operator', 'client');
  const foreign = await issueTestLeaf(other, dir, 'intruder', 'client');
  const endpoint = { host: '127.0.0.1', port: 0, tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: ca.certFile } };
  const app = createHttpService({ endpoint, what: 'api' });
  guardAdmin(app, { endpoint, tokenField: 'api.tokenFile' });
  let changes = 0;
  app.put('/v1/thing', async () => ({ changed: ++changes }));
  app.get('/v1/thing', async () => ({ changes }));
  const port = await listenHttp(app, endpoint, undefined, 'api');
  t.teardown(() => app.close());
  const req = (method: string, leaf?: { certFile: string; keyFile: string }) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = https.request({ host: '127.0.0.1', port, path: '/v1/thing', method, ca: readFileSync(ca.certFile), servername: 'localhost', ...(leaf ? { cert: readFileSync(leaf.certFile), key: readFileSync(leaf.keyFile) } : {}) }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      });
      r.on('error', reject);
      r.end();
    });
  t.same(await req('PUT', client), { status: 200, body: '{"changed":1}' }, 'a verified client certificate may change');
  t.equal((await req('GET', client)).status, 200);
  await t.rejects(req('PUT'), /certificate|socket hang up|ECONNRESET|alert/i, 'no certificate: the handshake fails');
  await t.rejects(req('PUT', foreign), /certificate|socket hang up|ECONNRESET|alert|unknown ca/i, 'a foreign CA: the handshake fails');
  t.equal(changes, 1, 'only the authenticated change happened');
  t.throws(() => createHttpService({ endpoint: { ...endpoint, tls: { ...endpoint.tls, keyFile: join(dir, 'missing.key') } }, what: 'api' }), { code: 'INSECURE_LISTEN', message: /api\.tls\.keyFile/ });
});

t.test('admin guard: changes need the token on loopback; beyond loopback reads need it too; open paths stay open', async (t) => {
  const token = 'a-token-long-enough-for-tests';
  const build = (endpoint: { host?: string; socket?: string }, withToken = true) => {
    const app = createHttpService();
    guardAdmin(app, { ...(withToken ? { token } : {}), endpoint, tokenField: 'api.tokenFile', open: ['/status-public'] });
    app.get('/v1/state', async () => ({ ok: true }));
    app.put('/v1/state', async () => ({ ok: true }));
    app.get('/status-public', async () => 'ok');
    t.teardown(() => app.close());
    return app;
  };
  const bearer = { authorization: `Bearer ${token}` };
  const loop = build({ host: '127.0.0.1' });
  t.equal((await loop.inject({ method: 'GET', url: '/v1/state' })).statusCode, 200, 'loopback: reads open');
  t.equal((await loop.inject({ method: 'PUT', url: '/v1/state' })).statusCode, 401, 'loopback: a change without the token is refused');
  t.equal((await loop.inject({ method: 'PUT', url: '/v1/state', headers: { authorization: `Bearer ${token}x` } })).statusCode, 401, 'a longer token is not the token');
  t.equal((await loop.inject({ method: 'PUT', url: '/v1/state', headers: bearer })).statusCode, 200);
  const sock = build({ socket: '/run/x.sock' });
  t.equal((await sock.inject({ method: 'PUT', url: '/v1/state' })).statusCode, 401, 'a Unix socket: changes still need the token');
  const wide = build({ host: '10.0.0.7' });
  const r = await wide.inject({ method: 'GET', url: '/v1/state?x=1' });
  t.equal(r.statusCode, 401, 'beyond loopback: reads need the token');
  t.match(r.json(), { code: 'ADMIN_UNAUTHENTICATED', message: /to read this API beyond loopback/ });
  t.equal((await wide.inject({ method: 'HEAD', url: '/v1/state' })).statusCode, 401);
  t.equal((await wide.inject({ method: 'GET', url: '/v1/state', headers: bearer })).statusCode, 200);
  t.equal((await wide.inject({ method: 'GET', url: '/health' })).statusCode, 200, '/health is open');
  t.equal((await wide.inject({ method: 'GET', url: '/status-public' })).statusCode, 200, 'declared open paths are open');
  const none = build({ host: '127.0.0.1' }, false);
  const d = await none.inject({ method: 'PUT', url: '/v1/state', headers: bearer });
  t.equal(d.statusCode, 403);
  t.match(d.json(), { code: 'ADMIN_DISABLED', message: /set api\.tokenFile/ });
});
