// Build-time code generation: TypeScript types and grpc-js service definitions
// with ts-proto, from the Envoy protos shipped in @grpc/grpc-js-xds/deps plus our
// own protos under proto/secretflowapis and proto/aenv. Output goes to proto/gen
// (git-ignored). A stamp of every input's hash makes a second run a no-op.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const deps = join(root, 'node_modules/@grpc/grpc-js-xds/deps');
const out = join(here, 'gen');
const overlay = join(here, 'overlay');
const stampFile = join(out, '.stamp');

/** Envoy root files we generate; their imports are generated with them. */
export const ENVOY_ROOTS = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/service/ext_proc/v3/external_processor.proto',
  'envoy/service/auth/v3/external_auth.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/buffer/v3/buffer.proto',
  'envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
];

const includeDirs = [
  overlay,
  join(deps, 'envoy-api'),
  join(deps, 'xds'),
  join(deps, 'googleapis'),
  join(deps, 'protoc-gen-validate'),
  here,
];

function walk(dir: string, acc: string[] = []): string[] {
  if (!existsSync(dir)) return acc;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (name.endsWith('.proto')) acc.push(p);
  }
  return acc;
}

/** Our own API definitions: every .proto under these folders. */
function ownProtos(): string[] {
  return ['secretflowapis', 'aenv'].flatMap((d) => walk(join(here, d))).map((p) => relative(here, p));
}

/**
 * validate.proto in grpc-js-xds lacks StringRules.ignore_empty (field 26), which
 * newer Envoy protos use; protoc rejects them without it. We write an overlay copy
 * with that one field added rather than vendoring the file.
 */
function writeValidateOverlay(): void {
  const src = readFileSync(join(deps, 'protoc-gen-validate/validate/validate.proto'), 'utf8');
  let patched = src;
  if (!/ignore_empty\s*=\s*26/.test(src.split('message StringRules')[1]?.split('\nmessage ')[0] ?? '')) {
    patched = src.replace(/message StringRules \{/, 'message StringRules {\n    optional bool ignore_empty = 26;');
  }
  mkdirSync(join(overlay, 'validate'), { recursive: true });
  writeFileSync(join(overlay, 'validate/validate.proto'), patched);
}

function inputsHash(files: string[]): string {
  const h = createHash('sha256');
  const tsProtoPkg = JSON.parse(readFileSync(join(root, 'node_modules/ts-proto/package.json'), 'utf8')) as { version: string };
  h.update(`ts-proto ${tsProtoPkg.version}\n`);
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  h.update(readFileSync(join(deps, 'protoc-gen-validate/validate/validate.proto')));
  for (const f of files) {
    const abs = includeDirs.map((d) => join(d, f)).find((p) => existsSync(p));
    if (!abs) throw new Error(`proto not found in include path: ${f}`);
    h.update(f).update(readFileSync(abs));
  }
  return h.digest('hex');
}

export function generate(force = false): boolean {
  if (!existsSync(deps)) throw new Error(`Envoy protos not found at ${deps}: run npm install first`);
  const own = ownProtos();
  const files = [...ENVOY_ROOTS, ...own];
  const hash = inputsHash(files);
  if (!force && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === hash) return false;
  writeValidateOverlay();
  // Generate into a fresh folder, then swap it in, so a concurrent reader never
  // sees a half-written tree.
  const target = out;
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const outDir = tmp;
  const plugin = join(root, 'node_modules/.bin/protoc-gen-ts_proto');
  const opts = [
    'outputServices=grpc-js',
    'esModuleInterop=true',
    'useOptionals=none',
    'env=node',
    'useDate=false',
  ].join(',');
  execFileSync(
    'protoc',
    [
      `--plugin=protoc-gen-ts_proto=${plugin}`,
      `--ts_proto_out=${outDir}`,
      `--ts_proto_opt=${opts}`,
      ...includeDirs.map((d) => `-I${d}`),
      ...files,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  // A descriptor set for runtime users (gRPC reflection, JSON rendering).
  execFileSync(
    'protoc',
    [`--descriptor_set_out=${join(outDir, 'descriptors.pb')}`, '--include_imports', ...includeDirs.map((d) => `-I${d}`), ...files],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  writeFileSync(join(outDir, '.stamp'), hash);
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(tmp, target);
  rmSync(old, { recursive: true, force: true });
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = Date.now();
  const did = generate(process.argv.includes('--force'));
  console.log(did ? `proto: generated TypeScript in ${Date.now() - t0} ms` : 'proto: up to date');
}
