// The replica config files as shipped (before the node-loss test adapts their
// ports): accepted by their components' schemas, pointed at the documented NATS
// cluster, no port used twice on the host, the routing bucket the README creates.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { validateConfig } from '../../foundation/config.ts';
import { ControlPlaneConfig } from '../../control-plane/config.ts';
import { CapsuleManagerConfigSchema } from '../../capsule-manager/config.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../examples/deploy');
const load = (f: string): unknown => parse(readFileSync(join(root, 'replicas', f), 'utf8'));
// The client URLs of examples/deploy/nats-cluster/aenv-{1,2,3}.conf.
const clusterUrls = ['aenv-1', 'aenv-2', 'aenv-3'].map((n) => `nats://${/listen: (\S+)/.exec(readFileSync(join(root, 'nats-cluster', `${n}.conf`), 'utf8'))![1]}`);

t.test('capsule-manager replicas: NATS store, R3, shared identity and KEK, own audit log', async (t) => {
  const [a, b] = ['cm-1.yaml', 'cm-2.yaml'].map((f) => validateConfig(CapsuleManagerConfigSchema, load(f), f));
  for (const c of [a!, b!]) {
    t.equal(c.storage.kind, 'nats');
    t.same(c.storage.nats!.servers, clusterUrls, 'every node of the example cluster');
    t.equal(c.storage.nats!.replicas, 3);
    t.equal(c.attestation.self, 'auto', 'no sim in the deployment files');
  }
  t.equal(a!.storage.nats!.bucket, b!.storage.nats!.bucket, 'one bucket');
  t.equal(a!.identityDir, b!.identityDir, 'one CM identity');
  t.equal(a!.kek.passphraseFile, b!.kek.passphraseFile, 'one KEK passphrase');
  t.not(a!.audit.path, b!.audit.path, 'an audit log per replica');
  t.not(a!.audit.replica, b!.audit.replica, 'distinct replica names in the audit stream (one host: the host name would collide)');
});

t.test('control-plane replicas: NATS routing sync on one R3 bucket/key', async (t) => {
  const [a, b] = ['cp-1.yaml', 'cp-2.yaml'].map((f) => validateConfig(ControlPlaneConfig, load(f), f));
  for (const c of [a!, b!]) t.same(c.nats!.servers, clusterUrls);
  t.equal(a!.nats!.bucket, b!.nats!.bucket);
  t.equal(a!.nats!.key, b!.nats!.key);
  t.not(a!.id, b!.id, 'distinct ids in status and xDS responses');
  for (const c of [a!, b!]) t.equal(c.nats!.replicas, 3, `${c.id}: the routing bucket is created R3`);
});

t.test('no port or socket is used twice on the host (4 processes, 2 Envoy listeners, 3 nats-servers)', async (t) => {
  const cms = ['cm-1.yaml', 'cm-2.yaml'].map((f) => validateConfig(CapsuleManagerConfigSchema, load(f), f));
  const cps = ['cp-1.yaml', 'cp-2.yaml'].map((f) => validateConfig(ControlPlaneConfig, load(f), f));
  const nats = ['aenv-1', 'aenv-2', 'aenv-3'].flatMap((n) => [...readFileSync(join(root, 'nats-cluster', `${n}.conf`), 'utf8').matchAll(/listen: 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])));
  const ports = [
    ...cms.flatMap((c) => [c.grpc.port, c.http.port]),
    ...cps.flatMap((c) => [c.api.port, (c.app as any).plugins[0].config.listener.port]),
    ...nats,
  ];
  t.equal(ports.length, 4 + 4 + 6);
  // xDS on a Unix socket per control plane: distinct paths, no TCP port.
  t.same(cps.map((c) => c.xds.socket), ['run/cp-1/xds.sock', 'run/cp-2/xds.sock'], 'each control plane serves xDS on its own Unix socket');
  for (const c of cps) t.ok(c.api.tokenFile, `${c.id}: routing API changes need the token`);
  t.equal(new Set(ports).size, ports.length, `distinct: ${ports.join(', ')}`);
  t.notOk(ports.includes(0), 'fixed ports in the deployment files');
});
