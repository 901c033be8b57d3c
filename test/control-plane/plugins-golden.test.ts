// Golden files of every plugin's translation (resources rendered as readable
// JSON with Any expanded through the explicit type registry). Regenerate with
// UPDATE_GOLDEN=1 after an intended change, and review the diff.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSnapshot, EMPTY_ROUTING, parseAppConfig } from '../../control-plane/core/app-config.ts';
import type { Snapshot } from '../../control-plane/core/xds/snapshot.ts';
import { renderAny, TYPE, kindOf, type TypeUrl } from '../../control-plane/core/xds/type-urls.ts';
import { interactSample, onlineSample, routeSample } from './plugin-samples.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const secrets = [
  { name: 'group-cert', tlsCertificate: { certificateChain: { inlineString: '<cert pem>' }, privateKey: { inlineString: '<key pem>' } } },
  { name: 'group-ca', validationContext: { trustedCa: { inlineString: '<ca pem>' } } },
];

function render(snap: Snapshot): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const typeUrl of [TYPE.listener, TYPE.route, TYPE.cluster, TYPE.endpoint, TYPE.secret] as TypeUrl[]) {
    const items = [...snap.resources[typeUrl].items.values()];
    if (items.length) out[kindOf(typeUrl)] = items.map((r) => renderAny(r.any));
  }
  return out;
}

function golden(t: Test, name: string, actual: unknown): void {
  const file = join(dir, `${name}.json`);
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    writeFileSync(file, text);
    t.comment(`wrote ${file}`);
  }
  t.equal(text, readFileSync(file, 'utf8'), `${name}.json matches`);
}

const cases = {
  online: [onlineSample()],
  'online-no-authz': [onlineSample(undefined, false)],
  // A second online ingress beside the first (the demo's Trustflow-compatible one).
  'online-two-ingresses': [
    onlineSample(),
    { ...onlineSample({ listen: 50001, app: 18081, ra: 18082, extProc: 18093, extAuthz: 18084 }), name: 'trustflow_ingress', config: { ...onlineSample({ listen: 50001, app: 18081, ra: 18082, extProc: 18093, extAuthz: 18084 }).config, clusterPrefix: 'trustflow_' } },
  ],
  interact: [interactSample()],
  'interact-ext-authz': [interactSample({ ingress: 19443, app: 19080, egress: 19081, peer: 29443, extAuthz: 19084 })],
  route: [routeSample()],
};

for (const [name, plugins] of Object.entries(cases)) {
  t.test(`golden: ${name}`, async (t) => {
    const snap = buildSnapshot(name, parseAppConfig({ plugins }), EMPTY_ROUTING, name.startsWith('interact') ? secrets : []);
    golden(t, name, render(snap));
  });
}

t.test('online: the fixed interface (filter order, ext_proc settings, per-route disable, HTTP/2 gRPC clusters)', async (t) => {
  const r = render(buildSnapshot('o', parseAppConfig({ plugins: [onlineSample()] }), EMPTY_ROUTING, [])) as {
    listener: Array<{ filterChains: Array<{ filters: Array<{ typedConfig: { httpFilters: Array<{ name: string; typedConfig: Record<string, unknown> }> } }> }> }>;
    route: Array<{ virtualHosts: Array<{ routes: Array<{ match: Record<string, string>; route: { cluster: string }; typedPerFilterConfig?: Record<string, { disabled?: boolean }> }> }> }>;
    cluster: Array<{ name: string; typedExtensionProtocolOptions?: Record<string, { explicitHttpConfig?: { http2ProtocolOptions?: object } }> }>;
  };
  const filters = r.listener[0]!.filterChains[0]!.filters[0]!.typedConfig.httpFilters;
  t.same(filters.map((f) => f.name), ['envoy.filters.http.buffer', 'envoy.filters.http.ext_authz', 'envoy.filters.http.ext_proc', 'envoy.filters.http.router'], 'the body limit holds the request before anything waits on it');
  t.same(filters[0]!.typedConfig, { '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer', maxRequestBytes: 1048576 }, 'default body limit 1 MiB');
  const ep = filters[2]!.typedConfig as Record<string, unknown>;
  t.match(ep, {
    grpcService: { envoyGrpc: { clusterName: 'ext_proc' }, timeout: { seconds: 5 } },
    processingMode: { requestHeaderMode: 'SEND', responseHeaderMode: 'SEND', requestBodyMode: 'BUFFERED', responseBodyMode: 'BUFFERED', requestTrailerMode: 'SKIP', responseTrailerMode: 'SKIP' },
    allowModeOverride: true,
    messageTimeout: { seconds: 5 },
  });
  t.notOk(ep.failureModeAllow, 'ext_proc fails closed');
  const az = filters[1]!.typedConfig as Record<string, unknown>;
  t.match(az, { grpcService: { envoyGrpc: { clusterName: 'ext_authz' } }, transportApiVersion: 'V3', includePeerCertificate: true });
  t.notOk(az.failureModeAllow, 'ext_authz fails closed');
  const routes = r.route[0]!.virtualHosts[0]!.routes;
  t.same(routes.map((x) => [x.match, x.route.cluster, x.typedPerFilterConfig?.['envoy.filters.http.ext_proc']?.disabled ?? false]), [
    [{ prefix: '/RaProxy' }, 'ra_proxy', true],
    [{ path: '/.well-known/attestation' }, 'ra_proxy', true],
    [{ prefix: '/' }, 'app', false],
  ]);
  const h2 = (n: string) => !!r.cluster.find((c) => c.name === n)?.typedExtensionProtocolOptions?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicitHttpConfig?.http2ProtocolOptions;
  t.ok(h2('ext_proc') && h2('ext_authz'), 'gRPC clusters use HTTP/2');
  t.notOk(h2('app'), 'the app cluster stays HTTP/1.1');
  const common = (cl: typeof r.cluster, n: string) =>
    (cl.find((c) => c.name === n)?.typedExtensionProtocolOptions?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'] as { commonHttpProtocolOptions?: { maxRequestsPerConnection?: number } } | undefined)
      ?.commonHttpProtocolOptions;
  // Node 20's HTTP/2 rapid-reset mitigation closes a connection after ~1000 stream resets: rotate before that.
  t.same(common(r.cluster, 'ext_proc'), { maxRequestsPerConnection: 500 }, 'ext_proc connection rotated every 500 requests by default');
  t.notOk(common(r.cluster, 'ext_authz'), 'ext_authz cluster unchanged');
  const withCfg = (n: number) => {
    const s = onlineSample();
    const cfg = { ...s, config: { ...s.config, extProc: { ...s.config.extProc, maxRequestsPerConnection: n } } };
    return (render(buildSnapshot('o', parseAppConfig({ plugins: [cfg] }), EMPTY_ROUTING, [])) as typeof r).cluster;
  };
  t.same(common(withCfg(1234), 'ext_proc'), { maxRequestsPerConnection: 1234 }, 'configurable');
  const unlimited = withCfg(0);
  t.notOk(common(unlimited, 'ext_proc'), '0 = unlimited: no limit emitted');
  t.ok(unlimited.find((c) => c.name === 'ext_proc')?.typedExtensionProtocolOptions?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicitHttpConfig?.http2ProtocolOptions, 'still HTTP/2 when unlimited');
  t.throws(() => withCfg(-1), { code: 'TRANSLATION_FAILED', message: /maxRequestsPerConnection/ }, 'negative refused');
});

t.test('interact: ingress extAuthz puts the network ext_authz filter before tcp_proxy, HTTP/2 cluster, fail closed', async (t) => {
  const cfg = interactSample({ ingress: 19443, app: 19080, egress: 19081, peer: 29443, extAuthz: 19084 });
  const r = render(buildSnapshot('i', parseAppConfig({ plugins: [cfg] }), EMPTY_ROUTING, secrets)) as {
    listener: Array<{ name: string; filterChains: Array<{ filters: Array<{ name: string; typedConfig: Record<string, unknown> }> }> }>;
    cluster: Array<{ name: string; typedExtensionProtocolOptions?: Record<string, { explicitHttpConfig?: { http2ProtocolOptions?: object } }> }>;
  };
  const ingress = r.listener.find((l) => l.name === 'mtls_ingress')!;
  const filters = ingress.filterChains[0]!.filters;
  t.same(filters.map((f) => f.name), ['envoy.filters.network.ext_authz', 'envoy.filters.network.tcp_proxy']);
  t.match(filters[0]!.typedConfig, {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
    statPrefix: 'mtls_ingress_authz',
    grpcService: { envoyGrpc: { clusterName: 'mtls_ingress_ext_authz' } },
    transportApiVersion: 'V3',
    includePeerCertificate: true,
  });
  t.notOk(filters[0]!.typedConfig.failureModeAllow, 'fails closed');
  const c = r.cluster.find((x) => x.name === 'mtls_ingress_ext_authz');
  t.ok(c?.typedExtensionProtocolOptions?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicitHttpConfig?.http2ProtocolOptions, 'ext_authz cluster is HTTP/2');
  const egress = r.listener.find((l) => l.name === 'mtls_egress_bob')!;
  t.same(egress.filterChains[0]!.filters.map((f) => f.name), ['envoy.filters.network.tcp_proxy'], 'egress unchanged');
  const plain = render(buildSnapshot('p', parseAppConfig({ plugins: [interactSample()] }), EMPTY_ROUTING, secrets)) as typeof r;
  t.same(plain.listener.find((l) => l.name === 'mtls_ingress')!.filterChains[0]!.filters.map((f) => f.name), ['envoy.filters.network.tcp_proxy'], 'no filter without extAuthz');
  t.throws(
    () => buildSnapshot('x', parseAppConfig({ plugins: [{ ...cfg, config: { ...cfg.config, ingress: { ...cfg.config.ingress, extAuthz: { address: '127.0.0.1', port: 0 } } } }] }), EMPTY_ROUTING, secrets),
    { code: 'TRANSLATION_FAILED', message: /extAuthz/ },
    'bad extAuthz endpoint is refused',
  );
});

t.test('route: routes are ordered most specific first regardless of input order', async (t) => {
  const r = render(buildSnapshot('r', parseAppConfig({ plugins: [routeSample()] }), EMPTY_ROUTING, [])) as { route: Array<{ virtualHosts: Array<{ routes: Array<{ name: string }> }> }> };
  t.same(r.route[0]!.virtualHosts[0]!.routes.map((x) => x.name), ['health', 'api', 'catch-all']);
});

t.test('bad plugin configs: every error at once, clear messages, no snapshot', async (t) => {
  t.throws(() => parseAppConfig({ plugins: [{ plugin: 'nope', config: {} }] }), { code: 'INVALID_APP_CONFIG' });
  t.throws(
    () => buildSnapshot('x', parseAppConfig({ plugins: [{ plugin: 'online', config: { listener: { port: 70000 } } }, { plugin: 'route', config: { listener: { port: 1 }, routes: [{ name: 'r', match: { prefix: '/' }, cluster: 'ghost' }] } }] }), EMPTY_ROUTING, []),
    { code: 'TRANSLATION_FAILED', message: /plugins\[0\] \(online\)[\s\S]*app[\s\S]*plugins\[0\] \(online\)/ },
  );
  t.throws(() => buildSnapshot('x', parseAppConfig({ plugins: [interactSample()] }), EMPTY_ROUTING, []), { code: 'INCONSISTENT_SNAPSHOT', message: /missing secret "group-cert"/ });
  t.throws(() => buildSnapshot('x', parseAppConfig({ plugins: [routeSample(), routeSample()] }), EMPTY_ROUTING, []), { message: /used twice/ });
  t.throws(() => buildSnapshot('x', parseAppConfig({ plugins: [] }), { clusters: [], routes: [{ name: 'r', match: { prefix: '/' }, cluster: 'c' }] }, []), { message: /need a "route" plugin instance/ });
});
