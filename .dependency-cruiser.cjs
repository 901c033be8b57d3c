// The architecture's one-way arrows, checked by `npm test`
// (test/repo/architecture.test.ts runs dependency-cruiser with this file).
// Rooms (docs/architecture.md):
//   foundation/  what every component stands on (errors, config, logger, metrics, CLI args, secret files, x509)
//   net/         transport helpers the components' transports share (gRPC/HTTP servers, NATS connections)
//   <component>/ control-plane, ext-proc, ext-authz, ra-proxy, capsule-manager, data-capsule-proxy,
//                tls-groups, platforms, envoy-bootstrap, client: core/ (pure), transport/, config.ts,
//                errors.ts, start.ts, cli.ts, index.ts (its public face)
//   dev/         the development harness (Envoy/nats-server processes, free ports, the demo)
//   examples/, bench/, scripts/, bin/, test/  users of the above
const COMPONENTS = 'control-plane|ext-proc|ext-authz|ra-proxy|capsule-manager|data-capsule-proxy|tls-groups|platforms|envoy-bootstrap|client';
const PRODUCT = `^(${COMPONENTS}|foundation|net)/`;

module.exports = {
  forbidden: [
    {
      name: 'component-public-face',
      comment: 'Another component is used only through its index.ts (its public face); cli.ts is for bin/aenv.ts alone.',
      severity: 'error',
      from: { path: `^(${COMPONENTS}|dev|examples|bench|scripts)/`, pathNot: '^test/' },
      to: { path: `^(${COMPONENTS})/`, pathNot: ['^$1/', `^(${COMPONENTS})/index\\.ts$`] },
    },
    {
      name: 'cli-only-from-bin',
      comment: 'A component\'s cli.ts is the `aenv <command>` entry: only bin/aenv.ts (and tests) load it.',
      severity: 'error',
      from: { pathNot: ['^bin/', '^test/', `^(${COMPONENTS})/cli\\.ts$`] },
      to: { path: `^(${COMPONENTS})/cli\\.ts$` },
    },
    {
      name: 'foundation-stands-alone',
      comment: 'foundation/ imports nothing of ours but foundation/.',
      severity: 'error',
      from: { path: '^foundation/' },
      to: { path: '^(?!foundation/|node_modules/)[^/]+/', pathNot: '^proto/gen/' },
    },
    {
      name: 'net-on-foundation-only',
      comment: 'net/ builds on foundation/ (and generated protos) only.',
      severity: 'error',
      from: { path: '^net/' },
      to: { path: '^(?!foundation/|net/|node_modules/|proto/gen/)[^/]+/' },
    },
    {
      name: 'no-dev-in-product',
      comment: 'The harness (dev/) is for the demo, tests, bench and examples; the product never loads it.',
      severity: 'error',
      from: { path: PRODUCT },
      to: { path: '^dev/' },
    },
    {
      name: 'no-tests-in-product',
      comment: 'Nothing but tests and benchmarks (which share the test helpers) loads test/.',
      severity: 'error',
      from: { path: `^(${COMPONENTS}|foundation|net|dev|examples|scripts|bin)/` },
      to: { path: '^test/' },
    },
    {
      name: 'core-is-pure',
      comment: 'core/ takes data and returns data: no transport (net/, transport/, grpc-js, fastify, nats, sockets, processes).',
      severity: 'error',
      from: { path: `^(${COMPONENTS})/core/` },
      to: {
        path: ['^net/', '^[^/]+/transport/', '^node_modules/(@grpc/grpc-js|fastify|@fastify|nats|@aws-sdk|prom-client)/'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'core-no-network-modules',
      severity: 'error',
      from: { path: `^(${COMPONENTS})/core/` },
      to: { path: '^(node:)?(net|http|http2|https|child_process|dgram|tls)$', dependencyTypes: ['core'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { pathNot: '^test/' },
      // Type-only edges (import type) do not run at load time, so they may close a loop.
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', 'proto/gen'] },
    exclude: { path: ['^node_modules', '^proto/gen', '^\\.venv', '^run/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    moduleSystems: ['es6'],
  },
};
