// The interact ingress with `extAuthz` on a real Envoy driven by the control
// plane (bootstrap from envoy-bootstrap), F's real ext-authz and group
// certificates issued by tls-groups: every new connection is
// checked; a party revoked through ext-authz's admin API (or listed in its
// config `revoked.parties`) is refused on its next connection while a member
// still passes; a connection opened before the revocation is closed when
// maxConnectionSeconds runs out.
import t from 'tap';
import { createHash, generateKeyPairSync } from 'node:crypto';
import * as tls from 'node:tls';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { freePorts } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { generateBootstrap } from '../../envoy-bootstrap/index.ts';
import { startTestControlPlane } from '../helpers/control-plane.ts';
import { TYPE } from '../../control-plane/core/xds/type-urls.ts';
import { startExtAuthz } from '../../ext-authz/start.ts';
import { deriveGroupCa, issueGroupTlsAsset } from '../../tls-groups/index.ts';
import type { Claims } from '../../platforms/core/types.ts';
import { interactSample } from './plugin-samples.ts';
import { until } from './e2e-scenario.ts';
import { adminToken } from '../helpers/admin-token.ts';

const GROUP = { dataKey: createHash('sha256').update('cp-interact-authz data key').digest(), scope: 'default', dataUuid: 'cp-data-1' };
const CLAIMS: Claims = {
  platform: 'sim',
  measurements: { mr_td: 'ab'.repeat(48) },
  reportData: '00'.repeat(64),
  tcb: { status: 'UpToDate' },
  debug: false,
  insecure: true,
  checks: [],
};

async function member(partyId: string): Promise<{ certPem: string; keyPem: string; caPem: string }> {
  const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const a = await issueGroupTlsAsset({
    ...GROUP,
    partyId,
    subjectPublicKeyPem: kp.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    claims: CLAIMS,
    evidenceDigest: createHash('sha256').update(`evidence ${partyId}`).digest(),
  });
  return { certPem: a.leafCertPem, keyPem: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, caPem: a.caCertPem };
}

/** One TLS connection through the ingress carrying one HTTP/1.1 request; returns what came back. */
function exchange(port: number, m: { certPem: string; keyPem: string }): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, cert: m.certPem, key: m.keyPem }, () =>
      s.write('POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi'),
    );
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => resolve(`error; data=${Buffer.concat(chunks).length}`));
    s.on('close', () => resolve(Buffer.concat(chunks).toString() || 'closed without data'));
  });
}

/** A kept-open TLS connection: one request answered, then `closedAfterMs` resolves when the connection closes. */
async function heldConnection(port: number, m: { certPem: string; keyPem: string }): Promise<{ first: string; closedAfterMs: Promise<number> }> {
  const opened = Date.now();
  const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, cert: m.certPem, key: m.keyPem }, () =>
    s.write('POST /held HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi'),
  );
  const closedAfterMs = new Promise<number>((resolve) => s.on('close', () => resolve(Date.now() - opened)));
  s.on('error', () => undefined);
  const first = await new Promise<string>((resolve) => {
    s.once('data', (d: Buffer) => resolve(d.toString()));
    s.once('close', () => resolve('closed without data'));
  });
  return { first, closedAfterMs };
}

t.test('interact ingress + network ext_authz: revoked party refused on its next connection, member passes', async (t) => {
  const g = await deriveGroupCa(GROUP);
  const [server, bob, dave, eve] = await Promise.all([member('carol'), member('bob'), member('dave'), member('eve')]);
  const admin = adminToken(t);
  const authz = await startExtAuthz({
    http: { tokenFile: admin.tokenFile },
    groups: [{ groupId: g.groupId, caCertPem: g.caCertPem }],
    policy: { rules: [{ name: 'interact', pathPrefix: '/', methods: ['TCP'], peers: { groups: [g.groupId], parties: ['bob', 'dave', 'eve'] } }] },
    revoked: { parties: ['eve'] },
  });
  t.teardown(() => authz.close());
  const app = await startUpstream(t);
  const [ingressPort, egressPort] = await freePorts(2);
  const cp = await startTestControlPlane(t, { id: 'interact-authz-cp' });
  cp.secrets.set('group-cert', { certificateChain: server.certPem, privateKey: server.keyPem });
  cp.secrets.set('group-ca', { trustedCa: g.caCertPem });
  const sample = interactSample({ ingress: ingressPort!, app: app.port, egress: egressPort!, peer: ingressPort!, extAuthz: authz.grpcPort });
  // below the upstream's 5 s keep-alive timeout, so the close measured below is Envoy's
  const MAX_CONNECTION_SECONDS = 3;
  cp.setAppConfig({ plugins: [{ ...sample, config: { ingress: { ...sample.config.ingress, maxConnectionSeconds: MAX_CONNECTION_SECONDS }, egress: [] } }] });

  await startEnvoy(t, { name: 'interact-authz', bootstrap: generateBootstrap({ nodeId: 'interact-authz', cluster: 'ia', ...cp.xdsTarget, mode: 'delta', adminPort: 0 }) });
  await until('all types ACKed', async () => {
    const n = cp.status().nodes.find((x) => x.nodeId === 'interact-authz');
    return n && [TYPE.listener, TYPE.cluster, TYPE.endpoint, TYPE.secret].every((ty) => n.types[ty]?.ackedVersion && !n.types[ty]?.lastNack) ? n : undefined;
  });
  t.pass('Envoy ACKed the interact ingress with the network ext_authz filter, no NACK');

  const bobFirst = await until('bob through ingress', async () => {
    const r = await exchange(ingressPort!, bob);
    return /HTTP\/1.1 200/.test(r) ? r : undefined;
  });
  t.match(bobFirst, /"body":"hi"/, 'bob (member, in policy) reaches the app');
  t.match(await exchange(ingressPort!, dave), /HTTP\/1.1 200/, 'dave reaches the app before revocation');
  t.notMatch(await exchange(ingressPort!, eve), /HTTP\/1.1 200/, 'eve (revoked in ext-authz config) is refused');
  const held = await heldConnection(ingressPort!, dave);
  t.match(held.first, /HTTP\/1.1 200/, 'dave holds an open connection');
  const before = app.requests.length;

  const res = await fetch(`http://127.0.0.1:${authz.httpPort}/v1/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', ...admin.headers }, body: JSON.stringify({ parties: ['dave'] }) });
  t.equal(res.status, 200, 'dave revoked through the ext-authz admin API');
  t.notMatch(await exchange(ingressPort!, dave), /HTTP\/1.1 200/, 'dave refused on the next connection');
  t.match(await exchange(ingressPort!, bob), /HTTP\/1.1 200[\s\S]*"body":"hi"/, 'bob still passes');
  t.equal(app.requests.length, before + 1, 'the refused connection never reached the app');
  // The connection dave opened before his revocation does not outlive maxConnectionSeconds.
  const heldFor = await Promise.race([held.closedAfterMs, new Promise<number>((r) => setTimeout(() => r(-1), (MAX_CONNECTION_SECONDS + 5) * 1000))]);
  t.ok(heldFor >= MAX_CONNECTION_SECONDS * 1000 - 250 && heldFor <= MAX_CONNECTION_SECONDS * 1000 + 1500, `Envoy closed dave's open connection ${heldFor} ms after it opened (maxConnectionSeconds ${MAX_CONNECTION_SECONDS})`);
  t.notMatch(await exchange(ingressPort!, dave), /HTTP\/1.1 200/, 'and his reconnection is refused');
  t.match(await exchange(ingressPort!, bob), /HTTP\/1.1 200/, 'bob, still allowed, reconnects');
});
