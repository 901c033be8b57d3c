// The online and interact plugins on a real Envoy: Envoy ACKs their output;
// interact's mTLS works with certificates delivered only over SDS (egress ->
// own mTLS ingress -> app), a client without a certificate is refused; online
// routes attestation to ra-proxy without ext_proc and fails closed otherwise.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as net from 'node:net';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { freePorts } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { generateBootstrap } from '../../envoy-bootstrap/index.ts';
import { startTestControlPlane } from '../helpers/control-plane.ts';
import { TYPE } from '../../control-plane/core/xds/type-urls.ts';
import { interactSample, onlineSample } from './plugin-samples.ts';
import { until } from './e2e-scenario.ts';

function makePki(): { ca: string; cert: string; key: string } {
  const d = mkdtempSync(join(tmpdir(), 'cp-pki-'));
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: ['ignore', 'ignore', 'pipe'] });
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=group-ca', '-days', '2']);
  o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=bob.group']);
  const ext = join(d, 'ext.cnf');
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:bob.group\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ${ext}`]);
  o(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '1', '-extfile', ext]);
  return { ca: readFileSync(join(d, 'ca.pem'), 'utf8'), cert: readFileSync(join(d, 'leaf.pem'), 'utf8'), key: readFileSync(join(d, 'leaf.key'), 'utf8') };
}

t.test('online + interact on real Envoy with SDS certificates', async (t) => {
  const app = await startUpstream(t, (_r, body, res) => res.end(`app got: ${body.toString()}`));
  const ra = await startUpstream(t, (req, _b, res) => res.end(`ra-proxy: ${req.url}`));
  const [onlinePort, extProcPort, ingressPort, egressPort] = await freePorts(4);
  const cp = await startTestControlPlane(t, { id: 'plugins-cp' });
  const pki = makePki();

  // Secrets first: the interact config references them and a snapshot with a
  // dangling secret reference is refused.
  t.throws(() => cp.setAppConfig({ plugins: [interactSample({ ingress: ingressPort!, app: app.port, egress: egressPort!, peer: ingressPort! })] }), { code: 'INCONSISTENT_SNAPSHOT' });
  t.throws(() => cp.secrets.set('group-cert', { certificateChain: pki.cert, privateKey: pki.ca }), { code: 'INVALID_SECRET' }, 'a key that does not match is refused');
  cp.secrets.set('group-cert', { certificateChain: pki.cert, privateKey: pki.key });
  cp.secrets.set('group-ca', { trustedCa: pki.ca });
  cp.setAppConfig({
    plugins: [
      onlineSample({ listen: onlinePort!, app: app.port, ra: ra.port, extProc: extProcPort!, extAuthz: 0 }, false),
      interactSample({ ingress: ingressPort!, app: app.port, egress: egressPort!, peer: ingressPort! }),
    ],
  });
  t.throws(() => cp.secrets.delete('group-ca'), { code: 'INCONSISTENT_SNAPSHOT' }, 'a secret in use cannot be deleted');

  const envoy = await startEnvoy(t, { name: 'plugins', bootstrap: generateBootstrap({ nodeId: 'plugins', cluster: 'p', ...cp.xdsTarget, mode: 'delta', adminPort: 0 }) });
  await until('all types ACKed', async () => {
    const n = cp.status().nodes.find((x) => x.nodeId === 'plugins');
    return n && [TYPE.listener, TYPE.route, TYPE.cluster, TYPE.endpoint, TYPE.secret].every((ty) => n.types[ty]?.ackedVersion && !n.types[ty]?.lastNack) ? n : undefined;
  });
  t.pass('Envoy ACKed every resource type of online + interact, no NACK');
  await until('listeners active', async () => (await envoy.stat('listener_manager.total_listeners_active')) === 3);

  // interact: plaintext into egress -> mTLS (SDS certs) -> ingress -> app.
  const reply = await until('mTLS path', async () => {
    const s = net.connect(egressPort!, '127.0.0.1');
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      s.on('connect', () => s.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello'));
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', resolve);
      s.on('error', reject);
    });
    const text = Buffer.concat(chunks).toString();
    return text.includes('app got: hello') ? text : undefined;
  });
  t.match(reply, /app got: hello/, 'traffic crossed the mTLS hop');
  t.ok(((await envoy.stat(`listener.127.0.0.1_${ingressPort}.ssl.handshake`)) ?? 0) >= 1, 'TLS handshakes on the ingress');

  // A client without a certificate is refused by the ingress.
  const refused = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: ingressPort!, ca: pki.ca, servername: 'bob.group' }, () => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    s.on('data', () => resolve('data'));
    s.on('error', (e) => resolve(`error: ${e.message}`));
    s.on('close', () => resolve('closed'));
  });
  t.not(refused, 'data', `no client certificate -> no app data (${refused})`);

  // online: attestation goes to ra-proxy without ext_proc; other paths fail closed (no ext_proc running).
  const att = await fetch(`http://127.0.0.1:${onlinePort}/.well-known/attestation?nonce=abc`);
  t.equal(att.status, 200);
  t.equal(await att.text(), 'ra-proxy: /.well-known/attestation?nonce=abc');
  const rp = await fetch(`http://127.0.0.1:${onlinePort}/RaProxy/GetRaCert`, { method: 'POST', body: '{"nonce":"n"}' });
  t.equal(await rp.text(), 'ra-proxy: /RaProxy/GetRaCert');
  const closed = await fetch(`http://127.0.0.1:${onlinePort}/app`, { method: 'POST', body: 'x' });
  t.ok(closed.status >= 500, `app path fails closed without ext_proc (HTTP ${closed.status})`);
  t.equal(app.requests.filter((r) => r.url === '/app').length, 0, 'nothing reached the app unprocessed');

  // Rotation: a new leaf for the same secret name is pushed over SDS, Envoy ACKs
  // it and new connections use it.
  const secretVersion = cp.core.current!.resources[TYPE.secret].version;
  const pki2 = makePki();
  cp.secrets.set('group-ca', { trustedCa: pki.ca + pki2.ca });
  cp.secrets.set('group-cert', { certificateChain: pki2.cert, privateKey: pki2.key });
  cp.secrets.set('group-ca', { trustedCa: pki2.ca });
  const newVersion = cp.core.current!.resources[TYPE.secret].version;
  t.not(newVersion, secretVersion);
  await until('rotated secret ACKed', async () => cp.status().nodes.find((x) => x.nodeId === 'plugins')?.types[TYPE.secret]?.ackedVersion === newVersion);
  const rotated = await until('mTLS with the rotated certificate', async () => {
    const peerCert = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: ingressPort!, ca: pki2.ca, cert: pki2.cert, key: pki2.key, servername: 'bob.group' }, () => {
        resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
        s.end();
      });
      s.on('error', reject);
    });
    return peerCert === new (await import('node:crypto')).X509Certificate(pki2.cert).fingerprint256 ? peerCert : undefined;
  });
  t.ok(rotated, 'the ingress presents the rotated certificate');

  const secrets = cp.status().secrets;
  t.same(secrets.map((s) => s.name).sort(), ['group-ca', 'group-cert']);
  t.ok(secrets.every((s) => s.expiresInSeconds > 0 && s.expiresInSeconds <= 2 * 86400 + 60), 'expiry reported');
  t.notMatch(JSON.stringify(cp.status()), /PRIVATE KEY/, 'no key material in status');
});
