// The whole system on one machine: capsule manager, ra-proxy, control plane,
// ext-proc, ext-authz, the sample app and real Envoy (configured only through
// the generated bootstrap and ADS), on the embedded defaults: sim platform,
// file store. Then the online scenario once with the client, and an attested key
// release from the capsule manager, each step reported in plain words.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvoyProcess } from '../envoy-process.ts';
import { loadOrCreateAppIdentity, type AppIdentity } from '../../platforms/index.ts';
import { createLogger, type Logger } from '../../foundation/logger.ts';
import { PROJECT_ROOT, grpcurlBin } from '../toolchain.ts';
import { createAttester } from '../../platforms/index.ts';
import type { Attester } from '../../platforms/index.ts';
import { startRaProxy } from '../../ra-proxy/index.ts';
import { startExtAuthz } from '../../ext-authz/index.ts';
import { startControlPlane, type ControlPlaneHandle } from '../../control-plane/index.ts';
import { generateBootstrap } from '../../envoy-bootstrap/index.ts';
import { CapsuleManagerClient } from '../../capsule-manager/index.ts';
import { generatePartyKeys } from '../../capsule-manager/index.ts';
import { partyIdOfCert } from '../../capsule-manager/index.ts';
import { GroupSdsProvider } from '../../control-plane/index.ts';
import { startApp } from '../sample-app.ts';
import { runOnlineClient, runTrustflowClient } from '../../client/index.ts';
import type { DemoPorts } from './ports.ts';
import { DemoSupervisor, startAenvChild, type AenvChild, type ChildSpec } from './supervisor.ts';

/** The sample app's measurement in the sim quote (what verifiers expect). */
export const DEMO_APP_MEASUREMENT = 'd3' + 'a0'.repeat(31);

export interface DemoOptions {
  ports: DemoPorts;
  /** State directory (keys 0600, CM store, audit log, Envoy files). */
  dir: string;
  /** Where each step is reported in plain words. */
  say: (line: string) => void;
  logger?: Logger;
  xdsMode?: 'sotw' | 'delta';
  /** Aborting it during start-up stops what has started and rejects. */
  signal?: AbortSignal;
}

export interface DemoSockets {
  xds: string;
  extProc: string;
  extProcTrustflow: string;
  extAuthz: string;
  raProxy: string;
  raProxyGrpc: string;
}

export interface RunningDemo {
  ports: DemoPorts;
  dir: string;
  /** The running Envoy (replaced when the supervisor restarts it). */
  readonly envoy: EnvoyProcess;
  supervisor: DemoSupervisor;
  controlPlane: ControlPlaneHandle;
  simKeyFile: string;
  identity: AppIdentity;
  appAttester: Attester;
  cm: { address: string; httpPort: number; simPublicKeyPem: string };
  /** The app config the control plane serves (the scenario extends it). */
  appConfig: { revision: string; plugins: Array<Record<string, unknown>> };
  /**
   * The Unix sockets the co-located Envoy reaches our services on (directory
   * 0700, sockets 0660): only this user (and its group) can connect.
   */
  sockets: DemoSockets;
  /** Bearer token files (0600): the routing API's and ext-authz admin API's credential for changes. */
  tokenFiles: { controlPlaneApi: string; extAuthzAdmin: string };
  /** Registers something to stop with the demo. */
  onClose(fn: () => Promise<unknown> | void): void;
  /** Commands and URLs a person can try next. */
  tryNext: string[];
  close(): Promise<void>;
}

function writeSecretOnce(path: string, make: () => string): string {
  if (!existsSync(path)) writeFileSync(path, make(), { mode: 0o600 });
  chmodSync(path, 0o600);
  return readFileSync(path, 'utf8');
}

export async function startDemo(o: DemoOptions): Promise<RunningDemo> {
  const { ports, say } = o;
  const log = o.logger ?? createLogger('demo', { level: process.env.LOG_LEVEL ?? 'error' });
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const dir = (p: string) => {
    const d = join(o.dir, p);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  };
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  // Each component, once started, is registered to stop; an abort then ends the start-up.
  const started = (stopIt: () => Promise<unknown>) => {
    closers.push(stopIt);
    o.signal?.throwIfAborted();
  };
  try {
    o.signal?.throwIfAborted();
    // The app's identity and TEE (sim): shared by ra-proxy (binds the keys into
    // evidence), ext-proc (decrypts) and the app's calls to the capsule manager.
    const identity: AppIdentity = await loadOrCreateAppIdentity(dir('app/identity'), 'aenv-demo-app');
    const appAttester = await createAttester('sim', { simKeyDir: dir('app/sim'), simMeasurements: { app: DEMO_APP_MEASUREMENT } });
    const simKeyFile = join(o.dir, 'app-sim-key.pem');
    writeFileSync(simKeyFile, appAttester.simPublicKeyPem!);

    // Envoy, the ext-procs and the capsule manager run as processes of their own
    // (as they would in a pod), under the demo's supervisor: one that dies is
    // said loudly and restarted.
    const supervisor = new DemoSupervisor(say);
    o.signal?.addEventListener('abort', () => supervisor.expectExits(), { once: true });
    started(() => supervisor.stopAll());
    const logDir = dir('logs');
    const writeConfig = (name: string, cfg: unknown) => {
      const path = join(dir('config'), `${name}.json`);
      writeFileSync(path, JSON.stringify(cfg, null, 2), { mode: 0o600 });
      return path;
    };
    const passphraseFile = join(dir('cm'), 'kek-passphrase');
    writeSecretOnce(passphraseFile, () => randomBytes(24).toString('base64url'));
    // Envoy reaches xDS/SDS, ext-proc, ext-authz and ra-proxy over Unix sockets in
    // one 0700 directory; the admin APIs take a bearer token for every change.
    const run = dir('run');
    const sockets: DemoSockets = {
      xds: join(run, 'xds.sock'),
      extProc: join(run, 'ext-proc.sock'),
      extProcTrustflow: join(run, 'ext-proc-trustflow.sock'),
      extAuthz: join(run, 'ext-authz.sock'),
      raProxy: join(run, 'ra-proxy.sock'),
      raProxyGrpc: join(run, 'ra-proxy-grpc.sock'),
    };
    const tokenFiles = { controlPlaneApi: join(dir('tokens'), 'control-plane-api'), extAuthzAdmin: join(dir('tokens'), 'ext-authz-admin') };
    for (const f of Object.values(tokenFiles)) writeSecretOnce(f, () => randomBytes(24).toString('base64url'));
    const cmConfig = writeConfig('capsule-manager', {
      grpc: { port: ports.cmGrpc },
      http: { port: ports.cmHttp },
      identityDir: dir('cm/identity'),
      storage: { kind: 'file', dir: dir('cm/store') },
      kek: { passphraseFile },
      attestation: { self: 'sim', simKeyDir: dir('cm/sim'), require: true, allowInsecure: true, trustedSimKeys: [appAttester.simPublicKeyPem!] },
      audit: { path: join(dir('cm'), 'audit.log') },
      logLevel: 'warn',
    });
    const extProcConfig = writeConfig('ext-proc', { grpc: { socket: sockets.extProc }, http: { port: ports.extProcHttp }, identityDir: dir('app/identity'), logLevel: 'warn' });
    // A second ext-proc of the same app identity in Trustflow's envelope form
    // (GCM AAD = the empty aad member), behind its own ingress: Trustflow's
    // clients work unchanged there, and the default ingress keeps RFC 7516.
    const extProcTfConfig = writeConfig('ext-proc-trustflow', {
      grpc: { socket: sockets.extProcTrustflow },
      http: { port: ports.extProcTrustflowHttp },
      identityDir: dir('app/identity'),
      compat: 'trustflow',
      algorithms: ['RSA-OAEP-256'],
      encryptions: ['A128GCM'],
      session: { enabled: false },
      logLevel: 'warn',
    });
    const child = (name: string, args: string[], ready: RegExp, impact: string): ChildSpec<AenvChild> => ({ name, impact, start: () => startAenvChild({ name, args, ready, logDir, root: PROJECT_ROOT }) });
    const [cmChild] = await Promise.all([
      supervisor.start(child('capsule-manager', ['capsule-manager', 'serve', '-c', cmConfig], /"grpcPort":\d+/, 'Key releases, policy changes and group certificates fail until it is back; nothing is released without it.')),
      supervisor.start(child('ext-proc', ['ext-proc', '--config', extProcConfig], /ext-proc gRPC on/, 'The online ingress fails closed (HTTP 500) until it is back: nothing reaches the app, nothing leaves in the clear.')),
      supervisor.start(child('ext-proc-trustflow', ['ext-proc', '--config', extProcTfConfig], /ext-proc gRPC on/, 'The Trustflow-compatible ingress fails closed (HTTP 500) until it is back.')),
    ]);
    o.signal?.throwIfAborted();
    const cmInfo = JSON.parse(/\{"grpcPort".*\}/.exec(cmChild.output())![0]) as { grpcPort: number; httpPort: number; simPublicKeyPem: string };
    const cm = { grpcPort: cmInfo.grpcPort, httpPort: cmInfo.httpPort, simPublicKeyPem: cmInfo.simPublicKeyPem };
    say(`capsule manager    grpc 127.0.0.1:${cm.grpcPort}, http 127.0.0.1:${cm.httpPort} (own process; file store, KEK from a passphrase file, sim-attested)`);
    say(`ext-proc           grpc ${sockets.extProc} (own process; JWE envelope: RSA-OAEP-256, ECDH-ES X25519/P-256, session dir)`);
    say(`ext-proc (compat)  grpc ${sockets.extProcTrustflow} (own process; Trustflow's envelope form: RSA-OAEP-256 + A128GCM, AAD = the aad member)`);

    const ra = await startRaProxy(
      { platform: 'sim', http: { socket: sockets.raProxy }, grpc: { socket: sockets.raProxyGrpc }, sim: { keyDir: dir('app/sim'), measurements: { app: DEMO_APP_MEASUREMENT } }, logLevel: 'warn' },
      { identity, attester: appAttester, logger: log.child({ svc: 'ra-proxy' }) },
    );
    started(() => ra.close());
    say(`ra-proxy           http ${sockets.raProxy}, grpc ${sockets.raProxyGrpc} (platform ${ra.platform})`);

    const authz = await startExtAuthz(
      {
        grpc: { socket: sockets.extAuthz },
        http: { port: ports.extAuthzHttp, tokenFile: tokenFiles.extAuthzAdmin },
        policy: {
          rules: [
            { name: 'attestation', pathPrefix: '/.well-known/attestation', public: true },
            { name: 'ra-proxy', pathPrefix: '/RaProxy', public: true },
            { name: 'app', pathPrefix: '/', methods: ['GET', 'POST'], public: true },
          ],
        },
        logLevel: 'warn',
      },
      { logger: log.child({ svc: 'ext-authz' }) },
    );
    started(() => authz.close());
    say(`ext-authz          grpc ${sockets.extAuthz} (policy: attestation public, app GET/POST, everything else denied; admin API 127.0.0.1:${authz.httpPort}, changes need the token)`);

    const app = await startApp(ports.app);
    started(() => app.close());
    say(`sample app         http 127.0.0.1:${app.port} (replies "I got your message: <body>"; it never sees ciphertext)`);

    const cp = await startControlPlane(
      {
        id: 'aenv-demo',
        xds: { socket: sockets.xds },
        api: { port: ports.controlPlaneApi, tokenFile: tokenFiles.controlPlaneApi },
        // The status page shows the capsule manager's recent decisions.
        capsuleManager: { decisionsUrl: `http://127.0.0.1:${cm.httpPort}/api/v1/audit/recent`, pollSeconds: 1 },
        // The status page shows each service beside Envoy; one that stops answering is an alarm.
        services: {
          pollSeconds: 1,
          targets: [
            { name: 'capsule-manager', url: `http://127.0.0.1:${cm.httpPort}/health` },
            { name: 'ext-proc', url: `http://127.0.0.1:${ports.extProcHttp}/health` },
            { name: 'ext-proc-trustflow', url: `http://127.0.0.1:${ports.extProcTrustflowHttp}/health` },
            { name: 'ra-proxy', url: 'http://ra-proxy/health', socket: sockets.raProxy },
            { name: 'ext-authz', url: `http://127.0.0.1:${authz.httpPort}/health` },
          ],
        },
        logLevel: 'warn',
      },
      { logger: log.child({ svc: 'control-plane' }) },
    );
    started(() => cp.close());
    const appConfig = {
      revision: 'demo-1',
      plugins: [
        {
          plugin: 'online',
          name: 'online',
          config: {
            listener: { address: '127.0.0.1', port: ports.envoy },
            app: { address: '127.0.0.1', port: app.port },
            raProxy: { socket: sockets.raProxy },
            extProc: { socket: sockets.extProc },
            extAuthz: { socket: sockets.extAuthz },
          },
        },
        {
          plugin: 'online',
          name: 'trustflow',
          config: {
            listener: { address: '127.0.0.1', port: ports.envoyTrustflow },
            app: { address: '127.0.0.1', port: app.port },
            raProxy: { socket: sockets.raProxy },
            extProc: { socket: sockets.extProcTrustflow },
            extAuthz: { socket: sockets.extAuthz },
            clusterPrefix: 'trustflow_',
          },
        },
      ] as Array<Record<string, unknown>>,
    };
    cp.setAppConfig(appConfig);
    say(`control plane      xDS/SDS ${sockets.xds} (ADS; socket 0660 in a 0700 directory), API and status page ${cp.apiUrl} (changes need the token)`);

    const bootstrap = generateBootstrap({ nodeId: 'demo-app-envoy', cluster: 'demo', ...cp.xdsTarget, mode: o.xdsMode ?? 'delta', adminPort: ports.envoyAdmin });
    // The current Envoy (a restart after a crash replaces it).
    const envoyRef: { current?: EnvoyProcess } = {};
    await supervisor.start({
      name: 'envoy',
      impact: 'Both ingresses are down until it is back (clients get connection refused; nothing is forwarded).',
      async start() {
        const e = await EnvoyProcess.start({ name: 'demo', bootstrap, workDir: dir('envoy'), adminPort: ports.envoyAdmin });
        envoyRef.current = e;
        return { pid: e.proc.pid, exited: e.proc.exited, stop: () => e.stop(), logFile: join(e.workDir, 'envoy.log') };
      },
    });
    const envoy = envoyRef.current!;
    await envoy.waitForStat('listener_manager.total_listeners_active', (v) => (v ?? 0) >= 2, 20_000);
    for (const c of ['app', 'ra_proxy', 'ext_proc', 'ext_authz']) {
      for (const prefix of ['', 'trustflow_']) await envoy.waitForStat(`cluster.${prefix}${c}.membership_total`, (v) => (v ?? 0) >= 1, 20_000);
    }
    say(`envoy ${EnvoyProcess.version().padEnd(12)} ingress 127.0.0.1:${ports.envoy}, Trustflow-compatible ingress 127.0.0.1:${ports.envoyTrustflow}, admin ${envoy.adminUrl}`);
    say(`                   (configured only by ADS from the control plane)`);

    const url = `http://127.0.0.1:${ports.envoy}`;
    return {
      ports,
      dir: o.dir,
      get envoy() {
        return envoyRef.current!;
      },
      supervisor,
      controlPlane: cp,
      simKeyFile,
      identity,
      appAttester,
      cm: { address: `127.0.0.1:${cm.grpcPort}`, httpPort: cm.httpPort, simPublicKeyPem: cm.simPublicKeyPem! },
      appConfig,
      sockets,
      tokenFiles,
      onClose: (fn) => closers.push(async () => fn()),
      tryNext: [
        `node bin/aenv.js client --url ${url} --sim-key ${simKeyFile} --measurement app=${DEMO_APP_MEASUREMENT} --message "hi"`,
        `node bin/aenv.js client --trustflow --url http://127.0.0.1:${ports.envoyTrustflow} --path /teeapp --sim-key ${simKeyFile} --message "hi"   (Trustflow's client steps)`,
        `.venv/bin/python examples/online/python/trustflow_client.py --url http://127.0.0.1:${ports.envoyTrustflow}   (a Trustflow-style client, unchanged)`,
        `${grpcurlBin().replace(`${PROJECT_ROOT}/`, '')} -plaintext unix://${sockets.xds} list   (xDS/SDS on its Unix socket)`,
        `curl -s ${cp.apiUrl}/v1/status`,
        `curl -s -X PUT -H "authorization: Bearer $(cat ${tokenFiles.controlPlaneApi})" -H 'content-type: application/json' --data @app.json ${cp.apiUrl}/v1/app-config   (changes need the token)`,
        `open ${cp.apiUrl}/status   (status page: Envoys, ACKed versions, NACKs, secrets, CM decisions)`,
        `curl -s "${url}/.well-known/attestation?nonce=$(openssl rand -hex 8)"`,
        `curl -s ${envoy.adminUrl}/config_dump | head`,
      ],
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The online scenario once, then an attested key release (and a denial) by the capsule manager, then a group leaf served over SDS. */
export async function runDemoScenario(d: RunningDemo, say: (line: string) => void): Promise<{ reply: string; trustflowReply: string; released: boolean; sessionReleases: number; denialReason?: string; groupCertServed: boolean }> {
  const url = `http://127.0.0.1:${d.ports.envoy}`;
  const simKey = readFileSync(d.simKeyFile, 'utf8');
  const out = await runOnlineClient({ url, message: 'hello', key: 'rsa', trustedSimKeys: [simKey], policy: { allowInsecure: true, measurements: { app: DEMO_APP_MEASUREMENT } } });
  say(`attested   the client sent a fresh nonce to ${url}/.well-known/attestation; Envoy routed it to ra-proxy;`);
  say(`           the ${out.claims.platform} quote verified (signature, app measurement ${DEMO_APP_MEASUREMENT.slice(0, 12)}..., nonce and key-set digest bound)`);
  say(`           (sim is INSECURE: no hardware root of trust; see docs/threat-model.md)`);
  say(`encrypted  "hello" sealed to the attested RSA key (kid ${out.kid}) as a JWE (RSA-OAEP-256 + A128GCM) and POSTed through Envoy;`);
  say(`           ext-proc decrypted it inside the TEE boundary, the app got plaintext, the answer went back encrypted with the same content key`);
  say(`reply      ${JSON.stringify(out.reply)}`);
  const tfUrl = `http://127.0.0.1:${d.ports.envoyTrustflow}`;
  const tf = await runTrustflowClient({ url: tfUrl, message: 'hello', path: '/teeapp', trustedSimKeys: [simKey], policy: { allowInsecure: true, measurements: { app: DEMO_APP_MEASUREMENT } } });
  say(`trustflow  Trustflow's client steps on ${tfUrl}: POST /RaProxy/GetRaCert {nonce}, report verified (SHA-256(cert "." nonce) bound),`);
  say(`           "hello" in Trustflow's envelope form POSTed to /teeapp: reply ${JSON.stringify(tf.reply)}`);

  // Capsule manager: alice grants the demo app a data key; the app gets it only
  // with verified evidence; a request outside the rule is denied with the reason.
  const verify = { trustedSimKeys: [d.cm.simPublicKeyPem], policy: { allowInsecure: true } };
  const alice = await generatePartyKeys('alice');
  const owner = new CapsuleManagerClient({ address: d.cm.address, signer: { privateKey: alice.privateKey, certChainPem: [alice.certPem] }, verify });
  const appClient = new CapsuleManagerClient({ address: d.cm.address, signer: { privateKey: d.identity.keys.rsa.privateKey, certChainPem: [d.identity.certPem] }, verify });
  // Closed with the demo (after the group provider that renews through it).
  d.onClose(() => appClient.close());
  try {
    await owner.connect();
    await owner.registerCert();
    const appParty = partyIdOfCert(d.identity.certPem);
    const dataUuid = `demo-data-${randomBytes(4).toString('hex')}`;
    await owner.createDataKeys([{ resource_uri: dataUuid, data_key_b64: randomBytes(16).toString('base64') }]);
    await owner.createDataPolicy({
      data_uuid: dataUuid,
      rules: [
        {
          rule_id: 'demo-app-reads',
          grantee_party_ids: [appParty],
          columns: ['*'],
          op_constraints: [{ op_name: 'read', constraints: [] }],
          global_constraints: [`r.env.tee.platform == "sim"`],
        },
      ],
    });
    say(`policy     alice verified the capsule manager's report, registered, uploaded a data key for ${dataUuid} and granted the app op "read"`);
    await appClient.connect();
    await appClient.registerCert();
    const ask = (op: string) =>
      appClient.getDataKeys(
        { initiator_party_id: appParty, scope: '', op_name: op, resources: [{ resource_uri: dataUuid, columns: [], attrs: '' }], env: '', global_attrs: '' },
        d.appAttester,
      );
    const keys = await ask('read');
    say(`released   the app asked for the key with its evidence; the CM verified it and released ${keys.length} key (encrypted to the attested cert)`);
    // An attested release session: the evidence is verified once; each release
    // after it is sealed under the session key and still decided by alice's rules.
    const session = await appClient.openReleaseSession(d.appAttester);
    const t0 = performance.now();
    let sessionReleases = 0;
    for (let i = 0; i < 100; i++) {
      const got = await session.getDataKeys({ initiator_party_id: appParty, scope: '', op_name: 'read', resources: [{ resource_uri: dataUuid, columns: [], attrs: '' }], env: '', global_attrs: '' });
      if (got[0]?.data_key_b64 === keys[0]?.data_key_b64) sessionReleases++;
    }
    const sessionMs = performance.now() - t0;
    session.close();
    say(`session    the app opened an attested release session (evidence verified once, until ${session.expiresAt.toISOString()}):`);
    say(`           ${sessionReleases} of 100 releases in ${sessionMs.toFixed(0)} ms under the session key, each checked against alice's rules and audited`);
    let denialReason: string | undefined;
    try {
      await ask('export');
    } catch (e) {
      denialReason = (e as Error).message;
    }
    say(`denied     the same app asking for op "export": ${denialReason ?? '(unexpectedly allowed)'}`);

    // Communication group: alice also grants "interact"; the app's side gets a
    // group leaf for a key it generated, and the control plane serves it to
    // Envoy over SDS for an mTLS ingress.
    await owner.addDataRule(dataUuid, { rule_id: 'demo-app-interact', grantee_party_ids: [appParty], columns: ['*'], op_constraints: [{ op_name: 'interact', constraints: [] }], global_constraints: [] });
    let rotation: { notAfter: Date; serial: string } | undefined;
    const provider = new GroupSdsProvider({
      partyId: appParty,
      source: appClient,
      attester: d.appAttester,
      secrets: d.controlPlane.secrets,
      groups: [{ name: 'interact', resourceUri: dataUuid, certSecret: 'group-cert', caSecret: 'group-ca' }],
      onRotated: (e) => (rotation = e),
    });
    await provider.start();
    d.onClose(() => provider.stop());
    d.appConfig.plugins.push({
      plugin: 'interact',
      name: 'mtls',
      config: { ingress: { listener: { address: '127.0.0.1', port: d.ports.envoyMtls }, app: { address: '127.0.0.1', port: d.ports.app }, certSecret: 'group-cert', caSecret: 'group-ca' }, egress: [] },
    });
    d.appConfig.revision = 'demo-2';
    d.controlPlane.setAppConfig(d.appConfig);
    await d.envoy.waitForStat('listener_manager.total_listeners_active', (v) => (v ?? 0) >= 3, 20_000);
    const certs = await (await d.envoy.admin('/certs')).text();
    const served = rotation !== undefined && certs.includes(rotation.serial);
    say(`group TLS  alice granted op "interact"; the CM derived the group CA from the data key and certified the app's own key`);
    say(`           (leaf serial ${rotation?.serial.slice(0, 16)}..., expires ${rotation?.notAfter.toISOString()}, renewed at 2/3 of its life);`);
    say(`           the control plane serves it over SDS and Envoy's mTLS ingress 127.0.0.1:${d.ports.envoyMtls} ${served ? 'uses it' : 'has NOT loaded it'}`);
    return { reply: out.reply, trustflowReply: tf.reply, released: keys.length === 1, sessionReleases, denialReason, groupCertServed: served };
  } finally {
    owner.close();
  }
}
