// The status page rendered by a real headless Chromium: it fetches /v1/status
// and shows each node once (node and cluster not repeated per type), its ACKed
// versions and its last NACK, a disconnected Envoy as an alarm, the secrets
// with their expiry (expired / expiring relative to the certificate's lifetime)
// and the capsule manager's recent decisions, escaped (a record carrying
// markup stays text).
import t from 'tap';
import { webcrypto } from 'node:crypto';
import Fastify from 'fastify';
import { x509 } from '../../foundation/x509.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumBin } from '../../dev/toolchain.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { startControlPlane } from '../../control-plane/start.ts';
import { TYPE } from '../../control-plane/core/xds/type-urls.ts';
import { adsClient, sotw } from './xds-fixtures.ts';
import { routeSample } from './plugin-samples.ts';
import { freePort } from '../../dev/free-port.ts';
import { screenshot } from '../helpers/chromium.ts';

const EVIL = '<script>document.title="PWNED"</script><img src=x onerror="document.title=\'PWNED\'">';

async function selfSigned(cn: string, notBefore: Date, notAfter: Date): Promise<{ certificateChain: string; privateKey: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: `CN=${cn}`, notBefore, notAfter, keys, signingAlgorithm: alg });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return { certificateChain: cert.toString('pem'), privateKey: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n` };
}

t.test('headless Chromium renders nodes, ACKs, the last NACK, secret expiry and CM decisions (escaped)', async (t) => {
  const cmApp = Fastify();
  cmApp.get('/api/v1/audit/recent', async () => ({
    records: [
      { time: '2026-11-26T10:00:02Z', action: 'GetDataKeys', initiator_party_id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90aabbccdd', resource_uri: 'data-42', decision: 'deny', reason: EVIL },
      { time: '2026-11-26T10:00:01Z', action: 'CreateResultDataKey', initiator_party_id: 'alice', decision: 'allow' },
    ],
  }));
  cmApp.get('/health', async () => ({ ok: true }));
  await cmApp.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => cmApp.close());
  const cmPort = (cmApp.server.address() as { port: number }).port;
  const cp = await startControlPlane(
    {
      id: 'page-cp',
      app: { plugins: [routeSample()] },
      capsuleManager: { decisionsUrl: `http://127.0.0.1:${cmPort}/api/v1/audit/recent`, pollSeconds: 1 },
      // One watched service answers, one (nothing listens on its port) does not.
      services: { pollSeconds: 1, targets: [{ name: 'capsule-manager', url: `http://127.0.0.1:${cmPort}/health` }, { name: 'ext-proc', url: `http://127.0.0.1:${await freePort()}/health` }] },
    },
    { logger: silentLogger },
  );
  t.teardown(() => cp.close());
  const now = Date.now();
  cp.secrets.set('old-cert', await selfSigned('old', new Date(now - 10 * 86400_000), new Date(now - 86400_000)));
  cp.secrets.set('soon-cert', await selfSigned('soon', new Date(now - 10 * 86400_000), new Date(now + 2 * 86400_000)));
  cp.secrets.set('fresh-cert', await selfSigned('fresh', new Date(now - 86400_000), new Date(now + 90 * 86400_000)));
  // A 1-hour leaf just issued is valid; one with 10 minutes of its hour left is expiring.
  cp.secrets.set('new-leaf', await selfSigned('new-leaf', new Date(now - 60_000), new Date(now + 3600_000 - 60_000)));
  cp.secrets.set('old-leaf', await selfSigned('old-leaf', new Date(now - 50 * 60_000), new Date(now + 10 * 60_000)));
  const client = adsClient(cp.xdsPort);
  t.teardown(() => client.close());
  const s = sotw(client);
  t.teardown(() => s.call.end());
  s.send({ node: { id: 'page-node', cluster: 'c' }, typeUrl: TYPE.cluster });
  const r = await s.q.next();
  s.send({ typeUrl: TYPE.cluster, versionInfo: r.versionInfo, responseNonce: r.nonce });
  s.send({ typeUrl: TYPE.listener });
  const l = await s.q.next();
  s.send({ typeUrl: TYPE.listener, versionInfo: '', responseNonce: l.nonce, errorDetail: { code: 3, message: 'listener refused for the page test' } });
  // A second Envoy that connected, ACKed and went away (crashed): an alarm on the page.
  const gone = adsClient(cp.xdsPort);
  const g = sotw(gone);
  g.send({ node: { id: 'crashed-node', cluster: 'c2' }, typeUrl: TYPE.cluster });
  const gr = await g.q.next();
  g.send({ typeUrl: TYPE.cluster, versionInfo: gr.versionInfo, responseNonce: gr.nonce });
  for (let i = 0; i < 50 && !cp.status().nodes.find((n) => n.nodeId === 'crashed-node')?.lastAckAt; i++) await new Promise((res) => setTimeout(res, 50));
  g.call.cancel();
  gone.close();
  for (let i = 0; i < 50 && cp.status().nodes.find((n) => n.nodeId === 'crashed-node')?.streams !== 0; i++) await new Promise((res) => setTimeout(res, 100));
  t.equal(cp.status().nodes.find((n) => n.nodeId === 'crashed-node')?.streams, 0, 'the crashed node has no stream');
  for (let i = 0; i < 50 && !cp.status().cmDecisions?.records.length; i++) await new Promise((res) => setTimeout(res, 100));
  for (let i = 0; i < 50 && cp.status().services?.some((x) => x.up === null); i++) await new Promise((res) => setTimeout(res, 100));
  t.equal(cp.status().cmDecisions?.records.length, 2, 'decisions polled');

  const profile = mkdtempSync(join(tmpdir(), 'chromium-'));
  const { stdout } = await promisify(execFile)(
    chromiumBin(),
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--virtual-time-budget=5000', '--dump-dom', `${cp.apiUrl}/status`],
    { encoding: 'utf8', timeout: 40_000, maxBuffer: 10 * 1024 * 1024 },
  );
  t.match(stdout, /data-loaded="true"/, 'the page loaded the status JSON');
  t.match(stdout, /page-node/, 'node shown');
  t.match(stdout, new RegExp(r.versionInfo), 'ACKed cluster version shown');
  t.match(stdout, /listener refused for the page test/, 'last NACK shown with error_detail');
  t.match(stdout, /page-cp/);
  // Nodes: one block per node, node and cluster once (rowspan over its types).
  const blocks = [...stdout.matchAll(/<tbody class="node" data-node="([^"]+)">([\s\S]*?)<\/tbody>/g)].map((m) => ({ node: m[1]!, html: m[2]! }));
  t.same(blocks.map((b) => b.node).sort(), ['crashed-node', 'page-node'], 'a block per node');
  const live = blocks.find((b) => b.node === 'page-node')!.html;
  t.equal(live.match(/>page-node</g)?.length, 1, 'the node id appears once, not on every row');
  t.equal(live.match(/<tr/g)?.length, 2, 'two type rows (cluster, listener)');
  t.match(live, /<td rowspan="2">page-node<\/td><td rowspan="2">c<\/td><td class="ok" rowspan="2">1<\/td><td title="\d{4}-\d\d-\d\dT[^"]+" rowspan="2">\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ<\/td><td title="[^"]+" rowspan="2">\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ<\/td>/, 'connected since and last ACK at shown once, compact, exact time in the tooltip');
  t.notMatch(live, /alarm/, 'the connected node is no alarm');
  const dead = blocks.find((b) => b.node === 'crashed-node')!.html;
  t.match(dead, /<tr class="alarm">/, 'the disconnected node is an alarm row');
  t.match(dead, /<td class="alarm" rowspan="1">0<\/td><td class="alarm" title="[^"]+" rowspan="1">DISCONNECTED \(last seen \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)<\/td>/, 'streams 0 and DISCONNECTED in red');
  t.match(stdout, /<div id="alarms" role="alert">ALARM: 1 Envoy node\(s\) disconnected \(crashed, stopped or cut off\): crashed-node; 1 service\(s\) DOWN: ext-proc<\/div>/, 'a banner names the node and the service');

  // Services: the one that answers is up, the other an alarm row with its error.
  const svcRows = Object.fromEntries([...stdout.matchAll(/<tr data-service="([^"]+)"(?: class="([a-z]*)")?>([\s\S]*?)<\/tr>/g)].map((m) => [m[1]!, { cls: m[2] ?? '', html: m[3]! }]));
  t.same(Object.keys(svcRows).sort(), ['capsule-manager', 'ext-proc'], 'a row per watched service');
  t.match(svcRows['capsule-manager']!.html, /<td class="ok">up<\/td>/, 'the answering service is up');
  t.equal(svcRows['ext-proc']!.cls, 'alarm', 'the silent one is an alarm row');
  t.match(svcRows['ext-proc']!.html, /<td class="alarm">DOWN<\/td>[\s\S]*ECONNREFUSED/, 'DOWN, with the reason');
  t.match(stdout, /id="services-summary" class="bad">2 watched service\(s\); 1 DOWN/);

  // Secrets: soonest expiry first, state relative to lifetime, "expires in" readable.
  const secretRows = [...stdout.matchAll(/<tr class="([a-z]*)" data-secret="([^"]+)">([\s\S]*?)<\/tr>/g)].map((m) => ({ cls: m[1], name: m[2], html: m[3]! }));
  t.same(secretRows.map((r) => [r.name, r.cls]), [['old-cert', 'expired'], ['old-leaf', 'expiring'], ['new-leaf', ''], ['soon-cert', 'expiring'], ['fresh-cert', '']]);
  t.match(secretRows[0]!.html, /expired 1 d 0 h ago[\s\S]*pill expired/);
  t.match(secretRows[1]!.html, /class="warn">in (9|10) min<[\s\S]*pill expiring/, 'a 1-hour leaf with 10 min left is expiring');
  t.match(secretRows[2]!.html, /in 5\d min<[\s\S]*pill valid/, 'a fresh 1-hour leaf is valid');
  t.match(secretRows[3]!.html, /class="warn">in 1 d 23 h<[\s\S]*pill expiring/);
  t.match(secretRows[4]!.html, /in 8\d d \d+ h[\s\S]*pill valid/);
  t.match(stdout, /id="secrets-summary" class="bad">5 secret\(s\); 1 EXPIRED; 2 expiring \(under a third of its lifetime left\)/);

  // CM decisions: shortened party (full id in the tooltip), deny highlighted, markup escaped and inert.
  const rows = [...stdout.matchAll(/<tr class="decision">([\s\S]*?)<\/tr>/g)].map((m) => m[1]!);
  t.equal(rows.length, 2, 'decisions table has both records');
  t.match(rows[0], /<td>2026-11-26T10:00:02Z<\/td><td>GetDataKeys<\/td><td title="a1b2c3d4e5f60718293a4b5c6d7e8f90aabbccdd">a1b2c3d4e5…bbccdd<\/td><td>data-42<\/td><td class="bad">deny<\/td>/);
  t.match(rows[0], /&lt;script&gt;document.title="PWNED"&lt;\/script&gt;&lt;img src=x onerror=/, 'the record\'s markup is shown as text');
  t.match(rows[1], /<td title="alice">alice<\/td><td><\/td><td class="ok">allow<\/td>/);
  t.notMatch(stdout, /<title>PWNED|<img src="?x/, 'nothing injected, nothing executed');
  t.match(stdout, /<title>aenv control plane<\/title>/);
  if (process.env.AENV_SCREENSHOT) await screenshot(`${cp.apiUrl}/status`, process.env.AENV_SCREENSHOT);
});
