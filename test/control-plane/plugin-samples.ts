// Sample app configs per plugin, shared by the golden-file and real-Envoy tests.
export const onlineSample = (p = { listen: 18080, app: 18081, ra: 18082, extProc: 18083, extAuthz: 18084 }, withAuthz = true) => ({
  plugin: 'online' as const,
  name: 'online_ingress',
  config: {
    listener: { address: '127.0.0.1', port: p.listen },
    app: { address: '127.0.0.1', port: p.app },
    raProxy: { address: '127.0.0.1', port: p.ra },
    extProc: { address: '127.0.0.1', port: p.extProc },
    ...(withAuthz ? { extAuthz: { address: '127.0.0.1', port: p.extAuthz } } : {}),
  },
});

export const interactSample = (p: { ingress: number; app: number; egress: number; peer: number; extAuthz?: number } = { ingress: 19443, app: 19080, egress: 19081, peer: 29443 }) => ({
  plugin: 'interact' as const,
  name: 'mtls',
  config: {
    ingress: {
      listener: { address: '127.0.0.1', port: p.ingress },
      app: { address: '127.0.0.1', port: p.app },
      certSecret: 'group-cert',
      caSecret: 'group-ca',
      ...(p.extAuthz ? { extAuthz: { address: '127.0.0.1', port: p.extAuthz } } : {}),
    },
    egress: [{ name: 'bob', listener: { address: '127.0.0.1', port: p.egress }, peer: { address: '127.0.0.1', port: p.peer }, sni: 'bob.group', certSecret: 'group-cert', caSecret: 'group-ca' }],
  },
});

export const routeSample = (p = { listen: 17080, a: 17081, b: 17082 }) => ({
  plugin: 'route' as const,
  name: 'edge',
  config: {
    listener: { address: '127.0.0.1', port: p.listen },
    clusters: [
      { name: 'svc-a', endpoints: [{ address: '127.0.0.1', port: p.a }] },
      { name: 'svc-b', endpoints: [{ address: '127.0.0.1', port: p.b }], protocol: 'http2', connectTimeoutMs: 250 },
    ],
    routes: [
      { name: 'catch-all', match: { prefix: '/' }, cluster: 'svc-a' },
      { name: 'api', match: { prefix: '/api/' }, cluster: 'svc-b', prefixRewrite: '/', timeoutMs: 1500 },
      { name: 'health', match: { path: '/healthz' }, cluster: 'svc-a' },
    ],
  },
});
