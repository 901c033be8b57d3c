// Scenario 3 end to end: alice owns a data key and grants op "interact" to
// bob's and carol's apps; each app runs beside its own Envoy and control plane;
// the control plane side (GroupSdsProvider) attests to the capsule manager,
// fetches the group leaf and serves it to Envoy over SDS; each app says hello
// to the other through its egress listener (plaintext in, group mTLS out).
//
// Everything is real: capsule manager (gRPC, sealed envelopes, sim attestation),
// control planes (ADS/SDS), Envoys, apps. Used by the e2e test, the benchmark
// and `node --import=tsx examples/interact/main.ts`.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEphemeralAppIdentity, type AppIdentity } from '../../platforms/index.ts';
import { EnvoyProcess } from '../../dev/envoy-process.ts';
import { freePorts } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { pollUntil } from '../../foundation/poll.ts';
import { createAttester } from '../../platforms/index.ts';
import type { Attester } from '../../platforms/index.ts';
import { CapsuleManagerClient, startCapsuleManager, type RunningCapsuleManager } from '../../capsule-manager/index.ts';
import { startControlPlane, type ControlPlaneHandle } from '../../control-plane/index.ts';
import { generateBootstrap } from '../../envoy-bootstrap/index.ts';
import { GroupSdsProvider, type RotationEvent } from '../../control-plane/index.ts';

export const DATA_UUID = 'interact-data-1';
export const DATA_KEY_B64 = Buffer.alloc(32, 0x42).toString('base64');

export interface Party {
  name: string;
  partyId: string;
  identity: AppIdentity;
  attester: Attester & { simPublicKeyPem?: string };
  client?: CapsuleManagerClient;
}

export interface AppSide {
  party: Party;
  appPort: number;
  ingressPort: number;
  egressPort: number;
  app: Server;
  cp: ControlPlaneHandle;
  envoy: EnvoyProcess;
  provider: GroupSdsProvider;
  rotations: RotationEvent[];
  denials: string[];
  /** POSTs `text` to the app's own egress listener (-> peer app). */
  hello(text: string): Promise<{ status: number; body: string }>;
}

export interface InteractDemo {
  cm: RunningCapsuleManager;
  alice: Party;
  parties: Record<string, Party>;
  sides: Record<string, AppSide>;
  startSide(name: string, peer: string, opts?: { ingressPort?: number; egressPort?: number; peerIngressPort: number }): Promise<AppSide>;
  revoke(name: string): Promise<void>;
  close(): Promise<void>;
}

async function party(name: string, dir: string): Promise<Party> {
  const identity = await createEphemeralAppIdentity(name);
  const attester = await createAttester('sim', { simKeyDir: join(dir, `${name}-sim`), simMeasurements: { mr_td: 'aa'.repeat(48) } });
  const { partyIdOfKey } = await import('../../capsule-manager/index.ts');
  return { name, partyId: partyIdOfKey(identity.keys.rsa.publicKey), identity, attester };
}

function client(cm: RunningCapsuleManager, p: Party): CapsuleManagerClient {
  return new CapsuleManagerClient({
    address: cm.grpcAddress,
    signer: { privateKey: p.identity.keys.rsa.privateKey, certChainPem: [p.identity.certPem] },
    verify: { trustedSimKeys: cm.simPublicKeyPem ? [cm.simPublicKeyPem] : [], policy: { allowInsecure: true } },
  });
}

function helloApp(name: string): Promise<Server> {
  const display = name[0]!.toUpperCase() + name.slice(1);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(`Hello from ${display}! (you said: ${Buffer.concat(chunks).toString('utf8')})`);
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

async function post(port: number, text: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}/hello`, { method: 'POST', body: text, headers: { connection: 'close' } });
  return { status: r.status, body: await r.text() };
}

/**
 * Starts the CM and alice's grant for `grantees`; parties in `names` get
 * identities (those not granted are refused by the CM).
 */
export async function startInteractDemo(opts: { names: string[]; grantees: string[]; renewal?: { fraction?: number } }): Promise<InteractDemo> {
  const dir = mkdtempSync(join(tmpdir(), 'aenv-interact-'));
  const alice = await party('alice', dir);
  const parties: Record<string, Party> = {};
  for (const n of opts.names) parties[n] = await party(n, dir);
  const cm = await startCapsuleManager({
    grpc: { port: 0 },
    http: { enabled: false },
    storage: { kind: 'file', dir: join(dir, 'cm-store') },
    kek: { passphrase: 'interact-demo-passphrase', scryptCost: 1024 },
    attestation: { self: 'sim', simKeyDir: join(dir, 'cm-sim'), allowInsecure: true, trustedSimKeys: Object.values(parties).map((p) => p.attester.simPublicKeyPem!) },
    logLevel: 'warn',
  }, { logger: silentLogger });
  alice.client = client(cm, alice);
  await alice.client.registerCert();
  await alice.client.createDataKeys([{ resource_uri: DATA_UUID, data_key_b64: DATA_KEY_B64 }]);
  // One rule per grantee so that a single party can be revoked by deleting its rule.
  await alice.client.createDataPolicy({
    data_uuid: DATA_UUID,
    rules: opts.grantees.map((g) => ({ rule_id: `interact-${g}`, grantee_party_ids: [parties[g]!.partyId], op_constraints: [{ op_name: 'interact', constraints: [] }], columns: ['*'], global_constraints: [] })),
  });

  const sides: Record<string, AppSide> = {};
  const demo: InteractDemo = {
    cm,
    alice,
    parties,
    sides,
    async startSide(name, peer, o) {
      const p = parties[name]!;
      p.client ??= client(cm, p);
      const app = await helloApp(name);
      const [ingressPort, egressPort] = o?.ingressPort && o.egressPort ? [o.ingressPort, o.egressPort] : ((await freePorts(2)) as [number, number]);
      // Each side's Envoy gets its group leaf over SDS on the control plane's Unix socket.
      const cp = await startControlPlane({ id: `${name}-cp`, xds: { socket: join(dir, 'run', `${name}-xds.sock`) } }, { logger: silentLogger });
      const rotations: RotationEvent[] = [];
      const denials: string[] = [];
      const provider = new GroupSdsProvider({
        partyId: p.partyId,
        source: p.client,
        attester: p.attester,
        secrets: cp.secrets,
        groups: [{ name: 'interact', resourceUri: DATA_UUID, certSecret: 'group-cert', caSecret: 'group-ca' }],
        ...(opts.renewal ? { renewal: opts.renewal } : {}),
        onRotated: (e) => rotations.push(e),
        onDenied: (e) => denials.push(e.reason),
      });
      const side: Partial<AppSide> = { party: p, appPort: (app.address() as AddressInfo).port, ingressPort, egressPort, app, cp, provider, rotations, denials };
      try {
        await provider.start();
        cp.setAppConfig({
          plugins: [{
            plugin: 'interact',
            name: 'mtls',
            config: {
              ingress: { listener: { address: '127.0.0.1', port: ingressPort }, app: { address: '127.0.0.1', port: side.appPort! }, certSecret: 'group-cert', caSecret: 'group-ca' },
              egress: [{ name: peer, listener: { address: '127.0.0.1', port: egressPort }, peer: { address: '127.0.0.1', port: o?.peerIngressPort ?? 0 }, certSecret: 'group-cert', caSecret: 'group-ca' }],
            },
          }],
        });
        side.envoy = await EnvoyProcess.start({ name, bootstrap: generateBootstrap({ nodeId: `${name}-envoy`, cluster: 'interact', ...cp.xdsTarget, mode: 'delta', adminPort: 0 }) });
      } catch (e) {
        provider.stop();
        await cp.close();
        await new Promise((r) => app.close(r));
        throw e;
      }
      side.hello = (text) => post(egressPort, text);
      sides[name] = side as AppSide;
      return side as AppSide;
    },
    async revoke(name) {
      await alice.client!.deleteDataRule(DATA_UUID, `interact-${name}`);
    },
    async close() {
      for (const s of Object.values(sides)) {
        s.provider.stop();
        await s.envoy?.stop();
        await s.cp.close();
        s.app.closeAllConnections();
        await new Promise((r) => s.app.close(r));
      }
      for (const p of [alice, ...Object.values(parties)]) p.client?.close();
      await cm.close();
      // The demo's state (CM store, sockets, keys) goes with it.
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return demo;
}

/** Serial numbers (lowercase hex) of the certificate chains Envoy currently serves (admin /certs). */
export async function envoyCertSerials(envoy: EnvoyProcess): Promise<string[]> {
  const r = await envoy.admin('/certs');
  const body = (await r.json()) as { certificates?: Array<{ cert_chain?: Array<{ serial_number?: string }> }> };
  return (body.certificates ?? []).flatMap((c) => (c.cert_chain ?? []).map((x) => (x.serial_number ?? '').toLowerCase())).filter(Boolean);
}

/** Polls until `fn` returns a truthy value (foundation/poll.ts). */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000, stepMs = 20): Promise<T> {
  return pollUntil(what, fn, { timeoutMs, stepMs });
}
