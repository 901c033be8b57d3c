// The Kubernetes-style manifests (examples/deploy/k8s) hang together: every
// YAML document parses, every reference resolves, the Envoy bootstrap is what
// `aenv bootstrap` generates and its ports are the sidecars' container ports,
// and every sidecar config is accepted by its component's own schema.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { nkeys } from 'nats';
import { validateConfig } from '../../foundation/config.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { natsServerBin } from '../../dev/toolchain.ts';
import { generateBootstrap } from '../../envoy-bootstrap/index.ts';
import { ControlPlaneConfig } from '../../control-plane/config.ts';
import { startControlPlane } from '../../control-plane/start.ts';
import { parseExtProcConfig } from '../../ext-proc/config.ts';
import { ExtAuthzConfigSchema } from '../../ext-authz/config.ts';
import { RaProxyConfigSchema } from '../../ra-proxy/config.ts';
import { CapsuleManagerConfigSchema } from '../../capsule-manager/config.ts';
import { createTestCa, issueTestLeaf } from '../helpers/test-pki.ts';
import { checkManifests, find, namedPort, workloads, type Manifest, type Workload } from './k8s-check.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../examples/deploy/k8s');
const SOCKETS = '/run/aenv/sockets';
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
const docs: Manifest[] = [];
for (const f of files) {
  for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
    if (d.errors.length) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`);
    docs.push(d.toJS() as Manifest);
  }
}
const workload = (kind: string, name: string): Workload => {
  const w = workloads(docs).find((x) => x.kind === kind && x.name === name);
  if (!w) throw new Error(`${kind}/${name} missing`);
  return w;
};
const configOf = (cm: string, key: string): any => parse(find(docs, 'ConfigMap', cm)!.data[key]);
const container = (w: Workload, name: string): any => w.pod.containers.find((c: any) => c.name === name);

t.test('every document parses and every reference resolves', async (t) => {
  t.same(files, ['capsule-manager.yaml', 'confidential-app.yaml', 'nats.yaml']);
  t.ok(docs.length >= 12, `${docs.length} documents`);
  t.same(checkManifests(docs), [], 'no dangling ConfigMap/Secret/volume/port/Service reference');
  const kinds = new Set(docs.map((d) => `${d.kind}/${d.metadata!.name}`));
  for (const id of ['Deployment/confidential-app', 'Service/confidential-app', 'StatefulSet/aenv-capsule-manager', 'Service/aenv-capsule-manager', 'StatefulSet/aenv-nats', 'Service/aenv-nats-headless'])
    t.ok(kinds.has(id), id);
});

t.test('the checker itself catches broken references', async (t) => {
  const without = (kind: string, name: string) => docs.filter((d) => !(d.kind === kind && d.metadata?.name === name));
  t.match(checkManifests(without('ConfigMap', 'aenv-sidecars')), [/ConfigMap "aenv-sidecars" does not exist/]);
  t.match(checkManifests(without('Secret', 'aenv-cm-kek')), [/Secret "aenv-cm-kek" does not exist/]);
  t.match(checkManifests(without('Service', 'aenv-nats-headless')), [/serviceName "aenv-nats-headless" is not a Service/]);
  const renamed = structuredClone(docs);
  const app = workloads(renamed).find((w) => w.name === 'confidential-app')!;
  container(app, 'envoy').ports.find((p: any) => p.name === 'ingress').name = 'public';
  const errs = checkManifests(renamed);
  t.ok(errs.some((e) => /Service\/confidential-app: targetPort ingress/.test(e)), 'a Service targeting a renamed port');
  t.ok(errs.some((e) => /readinessProbe port ingress/.test(e)), 'a probe on a renamed port');
});

t.test('Envoy runs the generated bootstrap; its ports are container ports of the pod', async (t) => {
  const app = workload('Deployment', 'confidential-app');
  const envoy = container(app, 'envoy');
  t.same(envoy.command.slice(0, 3), ['envoy', '-c', '/etc/aenv/bootstrap.yaml']);
  const mount = envoy.volumeMounts.find((m: any) => m.mountPath === '/etc/aenv');
  const vol = app.pod.volumes.find((v: any) => v.name === mount.name);
  t.equal(vol.configMap.name, 'aenv-envoy-bootstrap');
  const bootstrap = configOf('aenv-envoy-bootstrap', 'bootstrap.yaml');
  t.same(bootstrap, generateBootstrap({ nodeId: 'confidential-app', cluster: 'confidential-app', xdsSocket: SOCKETS + '/xds.sock', mode: 'delta', adminPort: 9901 }), 'equals `aenv bootstrap` output (golden)');
  t.equal(bootstrap.admin.address.socket_address.port_value, namedPort(app, 'envoy', 'envoy-admin'), 'admin port');
  const xds = bootstrap.static_resources.clusters.find((c: any) => c.name === 'xds_cluster').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address;
  t.same(xds, { pipe: { path: SOCKETS + '/xds.sock' } }, 'xDS/SDS over the Unix socket in the shared volume');
  const cp = validateConfig(ControlPlaneConfig, configOf('aenv-sidecars', 'control-plane.yaml'), 'control-plane.yaml');
  t.equal(cp.xds.socket, SOCKETS + '/xds.sock', 'the control plane listens where the bootstrap points');
});

t.test('Unix sockets: one in-memory volume shared by Envoy and the four sidecars it calls, no TCP port for them', async (t) => {
  const app = workload('Deployment', 'confidential-app');
  const vol = app.pod.volumes.find((v: any) => v.name === 'aenv-sockets');
  t.same(vol.emptyDir?.medium, 'Memory', 'tmpfs');
  const mounting = app.pod.containers.filter((c: any) => (c.volumeMounts ?? []).some((m: any) => m.name === 'aenv-sockets' && m.mountPath === SOCKETS)).map((c: any) => c.name).sort();
  t.same(mounting, ['control-plane', 'envoy', 'ext-authz', 'ext-proc', 'ra-proxy'], 'mounted at the same path by exactly these');
  t.equal(app.pod.securityContext.runAsGroup, 10001, 'one GID: the 0660 sockets admit the sidecars and nobody else');
  const ep = parseExtProcConfig(configOf('aenv-sidecars', 'ext-proc.yaml'));
  const ea = validateConfig(ExtAuthzConfigSchema, configOf('aenv-sidecars', 'ext-authz.yaml'), 'ext-authz.yaml');
  const ra = validateConfig(RaProxyConfigSchema, configOf('aenv-sidecars', 'ra-proxy.yaml'), 'ra-proxy.yaml');
  for (const [name, cfg] of [['ext-proc', ep], ['ext-authz', ea], ['ra-proxy', ra]] as const) {
    t.ok(cfg.grpc.socket?.startsWith(`${SOCKETS}/`), `${name} gRPC on a socket in the volume`);
    t.equal((cfg.http as { host: string }).host, '127.0.0.1', `${name} http on loopback (or a socket)`);
  }
  t.ok(ra.http.socket?.startsWith(`${SOCKETS}/`), 'ra-proxy http on a socket in the volume');
  for (const c of ['ext-proc', 'ext-authz']) t.ok(container(app, c).readinessProbe?.exec, `${c}: an exec probe (health is on loopback)`);
  // Every admin change needs the token from the Secret.
  const tokens = find(docs, 'Secret', 'aenv-admin-tokens')!;
  const cp = validateConfig(ControlPlaneConfig, configOf('aenv-sidecars', 'control-plane.yaml'), 'control-plane.yaml');
  for (const [name, file, c] of [['control-plane api', cp.api.tokenFile, 'control-plane'], ['ext-authz http', ea.http.tokenFile, 'ext-authz']] as const) {
    const mount = container(app, c).volumeMounts.find((m: any) => m.name === 'admin-tokens')?.mountPath;
    t.ok(mount && file?.startsWith(`${mount}/`), `${name}.tokenFile lies in the admin-tokens mount`);
    t.ok(file && file.slice(mount.length + 1) in tokens.stringData, `the Secret holds ${file}`);
  }
  t.equal(app.pod.volumes.find((v: any) => v.name === 'admin-tokens').secret.defaultMode, 0o400, 'token files 0400');
});

t.test('sidecar configs pass their components\' schemas and agree on ports', async (t) => {
  const app = workload('Deployment', 'confidential-app');
  const cp = validateConfig(ControlPlaneConfig, configOf('aenv-sidecars', 'control-plane.yaml'), 'control-plane.yaml');
  const ep = parseExtProcConfig(configOf('aenv-sidecars', 'ext-proc.yaml'));
  const ea = validateConfig(ExtAuthzConfigSchema, configOf('aenv-sidecars', 'ext-authz.yaml'), 'ext-authz.yaml');
  const ra = validateConfig(RaProxyConfigSchema, configOf('aenv-sidecars', 'ra-proxy.yaml'), 'ra-proxy.yaml');
  t.equal(cp.api.port, namedPort(app, 'control-plane', 'cp-api'));
  t.equal(cp.api.host, '127.0.0.1', 'the routing API stays on loopback');
  const online = (cp.app as any).plugins.find((p: any) => p.plugin === 'online').config;
  t.equal(online.listener.port, namedPort(app, 'envoy', 'ingress'), 'Envoy listener = ingress container port');
  t.equal(online.app.port, namedPort(app, 'app', 'app'), 'app port');
  t.equal(online.raProxy.socket, ra.http.socket, 'Envoy reaches ra-proxy on its socket');
  t.equal(online.extProc.socket, ep.grpc.socket, 'Envoy reaches ext-proc on its socket');
  t.equal(online.extAuthz.socket, ea.grpc.socket, 'Envoy reaches ext-authz on its socket');
  t.equal(ep.http.port, namedPort(app, 'ext-proc', 'ext-proc-http'));
  t.equal(ea.http.port, namedPort(app, 'ext-authz', 'ext-authz-http'));
  t.equal(ra.platform, 'auto');
  t.equal(ra.allowSim, false, 'no sim fallback in the cluster');
  // The control plane accepts the app config (every plugin validated and translated).
  const tmp = mkdtempSync(join(tmpdir(), 'k8s-cp-'));
  const tokenFile = join(tmp, 'token');
  writeFileSync(tokenFile, 'a-token-of-enough-length', { mode: 0o600 });
  const running = await startControlPlane({ ...cp, xds: { socket: join(tmp, 'xds.sock') }, api: { port: 0, tokenFile }, logLevel: 'silent' }, { logger: silentLogger });
  t.teardown(() => running.close());
  t.same(running.xdsTarget, { xdsSocket: join(tmp, 'xds.sock') }, 'control plane starts from the manifest config');
});

t.test('app identity: tmpfs shared only by ra-proxy and ext-proc; TEE device only in ra-proxy', async (t) => {
  const app = workload('Deployment', 'confidential-app');
  const vol = app.pod.volumes.find((v: any) => v.name === 'app-identity');
  t.same(vol.emptyDir?.medium, 'Memory', 'tmpfs');
  const mountsOf = (name: string) => app.pod.containers.filter((c: any) => (c.volumeMounts ?? []).some((m: any) => m.name === name)).map((c: any) => c.name).sort();
  t.same(mountsOf('app-identity'), ['ext-proc', 'ra-proxy']);
  const ep = parseExtProcConfig(configOf('aenv-sidecars', 'ext-proc.yaml'));
  const ra = validateConfig(RaProxyConfigSchema, configOf('aenv-sidecars', 'ra-proxy.yaml'), 'ra-proxy.yaml');
  const mountPath = (c: string) => container(app, c).volumeMounts.find((m: any) => m.name === 'app-identity').mountPath;
  t.equal(ep.identityDir, mountPath('ext-proc'), 'ext-proc reads the keys where they are mounted');
  t.equal(ra.identityDir, mountPath('ra-proxy'), 'ra-proxy writes the keys where they are mounted');
  t.equal(app.pod.securityContext.runAsUser, 10001, 'one UID: 0600 key files readable by both sidecars');
  t.same(mountsOf('tdx-guest'), ['ra-proxy']);
  t.same(mountsOf('tsm-configfs'), ['ra-proxy']);
  t.ok(app.pod.runtimeClassName, 'runtimeClassName placeholder for CVM pods');
  t.notOk(container(app, 'app').volumeMounts, 'the app container is unchanged');
});

t.test('capsule manager: 3 replicas on the NATS StatefulSet, R3 bucket, shared KEK and identity', async (t) => {
  const cm = find(docs, 'StatefulSet', 'aenv-capsule-manager')!;
  const nats = find(docs, 'StatefulSet', 'aenv-nats')!;
  t.equal(cm.spec.replicas, 3);
  t.equal(nats.spec.replicas, 3);
  const cfg = validateConfig(CapsuleManagerConfigSchema, configOf('aenv-capsule-manager', 'cm.yaml'), 'cm.yaml');
  t.equal(cfg.storage.kind, 'nats');
  t.equal(cfg.storage.nats!.replicas, 3);
  const w = workload('StatefulSet', 'aenv-capsule-manager');
  t.equal(cfg.grpc.port, namedPort(w, 'capsule-manager', 'grpc'));
  t.equal(cfg.http.port, namedPort(w, 'capsule-manager', 'http'));
  const natsW = workload('StatefulSet', 'aenv-nats');
  const clientPort = namedPort(natsW, 'nats', 'client');
  const expected = Array.from({ length: nats.spec.replicas }, (_, i) => `nats://${nats.metadata!.name}-${i}.${nats.spec.serviceName}:${clientPort}`);
  t.same(cfg.storage.nats!.servers, expected, 'CM talks to every NATS pod by its stable DNS name');
  const mounts = container(w, 'capsule-manager').volumeMounts;
  const pathOf = (vol: string) => mounts.find((m: any) => m.name === vol).mountPath;
  t.equal(cfg.kek.passphraseFile, `${pathOf('kek')}/passphrase`);
  t.ok(find(docs, 'Secret', 'aenv-cm-kek')!.stringData.passphrase);
  t.equal(cfg.identityDir, pathOf('identity'));
  t.same([...Object.keys(find(docs, 'Secret', 'aenv-cm-identity')!.stringData)].sort(), ['cert.pem', 'p256.key.pem', 'rsa.key.pem', 'x25519.key.pem'], 'identity files as platforms/app-identity.ts names them');
  // NATS: TLS with a client certificate and an nkey user, every file from the aenv-cm-nats Secret
  const n = cfg.storage.nats!;
  const natsSecret = find(docs, 'Secret', 'aenv-cm-nats')!;
  for (const [field, file] of [['tls.caFile', n.tls?.caFile], ['tls.certFile', n.tls?.certFile], ['tls.keyFile', n.tls?.keyFile], ['nkeySeedFile', n.nkeySeedFile]] as const) {
    t.ok(file?.startsWith(`${pathOf('nats')}/`), `storage.nats.${field} lies in the nats Secret mount`);
    t.ok(file && file.slice(pathOf('nats').length + 1) in natsSecret.stringData, `storage.nats.${field}: the Secret holds ${file}`);
  }
  t.equal(w.pod.volumes.find((v: any) => v.name === 'nats').secret.secretName, 'aenv-cm-nats');
  for (const v of w.pod.volumes.filter((x: any) => x.secret)) t.equal(v.secret.defaultMode, 0o400, `${v.name}: secret files 0400`);
});

t.test('nats.conf: routes name every pod, ports match, nats-server accepts it', async (t) => {
  const nats = find(docs, 'StatefulSet', 'aenv-nats')!;
  const w = workload('StatefulSet', 'aenv-nats');
  const conf: string = find(docs, 'ConfigMap', 'aenv-nats')!.data['nats.conf'];
  const clusterPort = namedPort(w, 'nats', 'cluster');
  for (let i = 0; i < nats.spec.replicas; i++) t.match(conf, `nats://${nats.metadata!.name}-${i}.${nats.spec.serviceName}:${clusterPort}`);
  t.match(conf, `listen: 0.0.0.0:${namedPort(w, 'nats', 'client')}`);
  t.match(conf, `listen: 0.0.0.0:${clusterPort}`);
  t.match(conf, `http: 0.0.0.0:${namedPort(w, 'nats', 'monitor')}`);
  // clients and routes: TLS that verifies the peer's certificate; clients are nkey users
  const tlsMount = container(w, 'nats').volumeMounts.find((m: any) => m.name === 'tls').mountPath;
  t.equal(w.pod.volumes.find((v: any) => v.name === 'tls').secret.secretName, 'aenv-nats-tls');
  const tlsBlocks = [...conf.matchAll(/tls \{([^}]*)\}/g)].map((m) => m[1]!);
  t.equal(tlsBlocks.length, 2, 'a tls block for clients and one for routes');
  for (const b of tlsBlocks) {
    t.match(b, /verify: true/, 'peers must present a certificate');
    for (const k of ['ca.crt', 'tls.crt', 'tls.key']) {
      t.match(b, `"${tlsMount}/${k}"`, `${k} from the TLS Secret mount`);
      t.ok(k in find(docs, 'Secret', 'aenv-nats-tls')!.stringData, `aenv-nats-tls holds ${k}`);
    }
  }
  const nkeyVar = /\{ nkey: \$(\w+) \}/.exec(conf)?.[1];
  const env = container(w, 'nats').env.find((e: any) => e.name === nkeyVar);
  t.same(env?.valueFrom?.secretKeyRef, { name: 'aenv-nats-users', key: 'capsule-manager.pub' }, 'the CM nkey user comes from the aenv-nats-users Secret');
  t.ok('capsule-manager.pub' in find(docs, 'Secret', 'aenv-nats-users')!.stringData);

  // nats-server accepts the file, with real certificates where the Secret is mounted
  const dir = mkdtempSync(join(tmpdir(), 'k8s-nats-'));
  const ca = await createTestCa(dir, 'nats-ca');
  const leaf = await issueTestLeaf(ca, dir, 'aenv-nats', 'server');
  copyFileSync(ca.certFile, join(dir, 'ca.crt'));
  copyFileSync(leaf.certFile, join(dir, 'tls.crt'));
  copyFileSync(leaf.keyFile, join(dir, 'tls.key'));
  const file = join(dir, 'nats.conf');
  writeFileSync(file, conf.replaceAll(`"${tlsMount}/`, `"${dir}/`));
  const r = spawnSync(natsServerBin(), ['-t', '-c', file], { encoding: 'utf8', env: { ...process.env, POD_NAME: 'aenv-nats-0', [nkeyVar!]: nkeys.createUser().getPublicKey() } });
  t.equal(r.status, 0, `nats-server -t: ${r.stderr.trim()}`);
  const bad = spawnSync(natsServerBin(), ['-t', '-c', join(dir, 'nats.conf')], { encoding: 'utf8', env: { ...process.env, POD_NAME: 'aenv-nats-0', [nkeyVar!]: 'not-an-nkey' } });
  t.not(bad.status, 0, 'nats-server -t refuses a malformed nkey (so the check above can fail)');
});
