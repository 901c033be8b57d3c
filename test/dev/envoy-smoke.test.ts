import t from 'tap';
import { startEnvoy, EnvoyProcess } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { freePort } from '../../dev/free-port.ts';
import { plainHttpListener, staticCluster } from '../helpers/static-bootstrap.ts';

function staticBootstrap(listenPort: number, upstreamPort: number): Record<string, unknown> {
  return {
    node: { id: 'smoke', cluster: 'smoke' },
    static_resources: {
      listeners: [plainHttpListener('ingress', listenPort, 'app')],
      clusters: [staticCluster('app', upstreamPort)],
    },
  };
}

t.test('real Envoy proxies an HTTP request to a local upstream', async (t) => {
  t.comment(`envoy version ${EnvoyProcess.version()}`);
  t.match(EnvoyProcess.version(), /^\d+\.\d+\.\d+$/, 'envoy --version parses');
  const upstream = await startUpstream(t);
  const port = await freePort();
  const envoy = await startEnvoy(t, { name: 'smoke', bootstrap: staticBootstrap(port, upstream.port) });

  const res = await fetch(`http://127.0.0.1:${port}/hello?x=1`, { method: 'POST', body: 'ping' });
  t.equal(res.status, 200);
  t.ok(res.headers.get('x-envoy-upstream-service-time') !== null, 'response went through Envoy');
  t.same(await res.json(), { method: 'POST', url: '/hello?x=1', body: 'ping' });
  t.equal(upstream.requests.length, 1);
  t.ok(upstream.requests[0]!.headers['x-request-id'], 'Envoy added x-request-id');

  const stat = await envoy.waitForStat('cluster.app.upstream_rq_200', (v) => v === 1);
  t.equal(stat, 1, '/stats counts the request');
  const dump = await envoy.configDump({ resource: 'static_listeners' });
  t.match(JSON.stringify(dump), /"name":"ingress"/, '/config_dump lists the listener');
});

t.test('a bootstrap that Envoy rejects makes start fail with Envoy\'s own message', async (t) => {
  await t.rejects(
    EnvoyProcess.start({ name: 'bad', bootstrap: { static_resources: { clusters: [{ name: 'x', type: 'NOPE' }] } }, timeoutMs: 10_000 }),
    /exited[\s\S]*NOPE/,
  );
});
