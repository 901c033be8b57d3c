// The demo (`npm start` / `aenv demo`) end to end: every component up, the
// online scenario and an attested key release in plain words, Prometheus
// metrics on every service, and the control plane's status page rendered by
// headless Chromium (DOM checked, screenshot taken).
import t from 'tap';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo, runDemoScenario } from '../../dev/demo/demo.ts';
import { autoPorts } from '../../dev/demo/ports.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PROJECT_ROOT, pythonBin } from '../../dev/toolchain.ts';
import { renderedDom, screenshot } from '../helpers/chromium.ts';
import { request } from 'node:http';

function getOverSocket(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

t.test('demo: whole system, scenario, metrics and status page', async (t) => {
  const lines: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'demo-'));
  const demo = await startDemo({ ports: await autoPorts(), dir, say: (l) => lines.push(l) });
  t.teardown(() => demo.close());
  for (const what of ['capsule manager', 'ra-proxy', 'ext-proc', 'ext-authz', 'sample app', 'control plane', 'envoy']) {
    t.ok(lines.some((l) => l.startsWith(what)), `${what} started and said so`);
  }
  const result = await runDemoScenario(demo, (l) => lines.push(l));
  t.equal(result.reply, 'I got your message: hello', 'the reply came back decrypted');
  t.equal(result.trustflowReply, 'I got your message: hello', "Trustflow's client steps work on the compat ingress");
  t.match(lines.join('\n'), /^trustflow  Trustflow's client steps on http:\/\/127\.0\.0\.1:\d+: POST \/RaProxy\/GetRaCert/m, 'the demo says so');

  // A Trustflow-style client (Python, as Trustflow's sample: GetRaCert, its envelope
  // form with a spaced JSON header, /teeapp) works unchanged on the compat ingress ...
  const tfClient = join(PROJECT_ROOT, 'examples/online/python/trustflow_client.py');
  const run = promisify(execFile);
  const tfUrl = `http://127.0.0.1:${demo.ports.envoyTrustflow}`;
  const { stdout: tfOut } = await run(pythonBin(), [tfClient, '--url', tfUrl, '--message', 'hello from trustflow'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(tfOut.trim(), 'Response Raw: I got your message: hello from trustflow', 'the Python Trustflow-style client gets the decrypted reply');
  // ... and is refused on the default (RFC 7516) ingress, whose header is authenticated.
  const refused = await run(pythonBin(), [tfClient, '--url', `http://127.0.0.1:${demo.ports.envoy}`], { encoding: 'utf8', timeout: 30_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  t.equal(refused.code, 1, 'the default ingress refuses the unauthenticated-header form');
  t.match(refused.stderr, /HTTP 400: .*DECRYPT_FAILED/, 'with DECRYPT_FAILED');
  t.ok(result.released, 'the CM released the key to the attested app');
  t.equal(result.sessionReleases, 100, 'and the same key 100 times through one attested release session');
  t.match(result.denialReason, /op "export" is not allowed/, 'the denial names the failed condition');
  t.ok(result.groupCertServed, 'the group leaf from the CM is served by Envoy over SDS');
  const text = lines.join('\n');
  t.match(text, /^attested /m);
  t.match(text, /^encrypted /m);
  t.match(text, /^reply +"I got your message: hello"/m);
  t.equal(statSync(join(dir, 'app/identity/rsa.key.pem')).mode & 0o777, 0o600, 'app key file is 0600');

  // Prometheus metrics on every service.
  const p = demo.ports;
  const metrics: Array<[string, string, RegExp]> = [
    ['control plane', `${demo.controlPlane.apiUrl}/metrics`, /aenv_control_plane_/],
    ['ext-proc', `http://127.0.0.1:${p.extProcHttp}/metrics`, /aenv_ext_proc_/],
    ['ext-authz', `http://127.0.0.1:${p.extAuthzHttp}/metrics`, /aenv_ext_authz_/],
    ['capsule manager', `http://127.0.0.1:${p.cmHttp}/metrics`, /aenv_capsule_manager_/],
  ];
  for (const [name, url, re] of metrics) {
    const r = await fetch(url);
    t.equal(r.status, 200, `${name} serves /metrics`);
    t.match(await r.text(), re, `${name} metrics carry its prefix`);
  }
  const ra = await getOverSocket(demo.sockets.raProxy, '/metrics');
  t.equal(ra.status, 200, 'ra-proxy serves /metrics on its Unix socket');
  t.match(ra.body, /aenv_ra_proxy_/, 'ra-proxy metrics carry its prefix');

  // Envoy's side streams and xDS/SDS are on Unix sockets only the demo's user reaches.
  for (const [name, path] of Object.entries(demo.sockets)) {
    t.ok(statSync(path).isSocket(), `${name} is a Unix socket`);
    t.equal(statSync(path).mode & 0o777, 0o660, `${name} socket is 0660`);
  }
  t.equal(statSync(join(dir, 'run')).mode & 0o777, 0o700, 'the socket directory is 0700');
  const clusters = await (await demo.envoy.admin('/clusters')).text();
  t.match(clusters, /ext_proc::\/.*ext-proc\.sock/, "Envoy's ext_proc cluster points at the Unix socket");
  // Changes to the routing API and ext-authz admin API need the token.
  const put = await fetch(`${demo.controlPlane.apiUrl}/v1/app-config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(demo.appConfig) });
  t.equal(put.status, 401, 'an app-config change without the token is refused');
  const authzPut = await fetch(`http://127.0.0.1:${p.extAuthzHttp}/v1/revocations`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{"parties":[]}' });
  t.equal(authzPut.status, 401, 'an ext-authz admin change without the token is refused');

  // The status page, as a browser renders it, once the control plane has polled
  // the capsule manager's decisions made by the scenario.
  const deadline = Date.now() + 10_000;
  let records: Array<{ decision: string; action: string }> = [];
  while (Date.now() < deadline) {
    const st = (await (await fetch(`${demo.controlPlane.apiUrl}/v1/status`)).json()) as { cmDecisions?: { records: typeof records } };
    records = st.cmDecisions?.records ?? [];
    if (records.some((r) => r.decision === 'deny')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.ok(records.some((r) => r.decision === 'allow' && /GetDataKeys/i.test(r.action)), 'status has the CM key release');
  t.ok(records.some((r) => r.decision === 'deny'), 'status has the CM denial');
  const statusUrl = `${demo.controlPlane.apiUrl}/status`;
  const dom = await renderedDom(statusUrl);
  t.match(dom, /demo-app-envoy/, 'status page lists the connected Envoy');
  t.match(dom, /demo-1|[0-9a-f]{8}/, 'status page shows versions');
  t.notMatch(dom, /loading…<\/div>/, 'the page script ran');
  t.match(dom, /Capsule manager decisions/, 'status page has the CM decisions section');
  t.match(dom, /group-cert/, 'status page lists the SDS secret with its expiry');
  t.match(dom, /op "export" is not allowed/, 'status page shows the denial reason');
  const png = join(dir, 'status-page.png');
  await screenshot(statusUrl, png);
  t.ok(existsSync(png) && statSync(png).size > 5000, `screenshot written (${png})`);
});
