// ext_proc unreachable -> Envoy fails closed (failure_mode_allow: false): ext-proc
// runs as its own process (the CLI), is killed mid-run, and no request, plain or
// sealed, reaches the app until it is back.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervised } from '../../dev/child-process.ts';
import { freePort } from '../../dev/free-port.ts';
import { loadOrCreateAppIdentity } from '../../platforms/index.ts';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { openResponse, sealRequest } from '../../ext-proc/core/envelope-client.ts';
import { echoApp, startOnlineEnvoy } from '../helpers/ext-proc.ts';
import { startUpstream } from '../helpers/upstream.ts';

async function spawnExtProc(port: number, dir: string): Promise<Supervised> {
  const p = new Supervised({ name: 'ext-proc', bin: process.execPath, args: ['--import=tsx', join(PROJECT_ROOT, 'ext-proc/cli.ts'), '--port', String(port), '--identity-dir', dir], cwd: PROJECT_ROOT });
  await p.waitFor(async () => /ext-proc gRPC on/.test(p.outputTail()), 'listening', 20_000);
  return p;
}

t.test('killing ext-proc mid-run: Envoy rejects, never passes plaintext', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'ext-proc-fc-')), 'identity');
  const identity = await loadOrCreateAppIdentity(dir, 'fail-closed');
  const app = await startUpstream(t, echoApp);
  const port = await freePort();
  let ep = await spawnExtProc(port, dir);
  t.teardown(() => ep.stop());
  const listenPort = await freePort();
  // Envoy configured by the control plane (`online` plugin), as in production.
  await startOnlineEnvoy(t, { listenPort, appPort: app.port, extProcPort: port });
  const url = `http://127.0.0.1:${listenPort}/`;
  const send = async (msg: string) => {
    const s = sealRequest(msg, { jwk: identity.keys.x25519.publicJwk });
    const res = await fetch(url, { method: 'POST', body: s.body, headers: { 'content-type': s.contentType } });
    return { res, text: await res.text(), s };
  };
  let r = await send('before');
  t.equal(r.res.status, 200);
  t.equal(openResponse(r.text, r.s).toString(), 'I got your message: before', 'works while ext-proc is up (keys loaded from the identity dir)');
  t.equal(app.requests.length, 1);

  await ep.kill();
  for (let i = 0; i < 3; i++) {
    r = await send(`while down ${i}`);
    t.ok(r.res.status >= 500, `sealed request ${i} while ext-proc is down: HTTP ${r.res.status}`);
    t.notMatch(r.text, /I got your message/);
    const plain = await fetch(url, { method: 'POST', body: 'plain', headers: { 'content-type': 'text/plain' } });
    t.ok(plain.status >= 500, `plain request ${i} while ext-proc is down: HTTP ${plain.status}`);
    await plain.text();
  }
  t.equal(app.requests.length, 1, 'nothing reached the app while ext-proc was down');

  ep = await spawnExtProc(port, dir);
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    r = await send('after');
    ok = r.res.status === 200;
    if (!ok) await new Promise((res) => setTimeout(res, 250));
  }
  t.ok(ok, 'recovers once ext-proc is back');
  t.equal(openResponse(r.text, r.s).toString(), 'I got your message: after');
});
