// Several ext-proc processes of one app identity behind one Envoy (the `online`
// plugin's extProc.replicas): Envoy spreads the side streams round robin, and a
// session established on one process is used on the others, since session ids are
// tickets sealed under a key of the app identity (ext-proc/core/session-table.ts).
import t from 'tap';
import { freePort } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { startExtProc } from '../../ext-proc/start.ts';
import { openResponse, sealRequest, sealSessionRequest, sessionFromResponse, SESSION_HEADER } from '../../ext-proc/core/envelope-client.ts';
import { echoApp, startOnlineEnvoy, testIdentity } from '../helpers/ext-proc.ts';
import { startUpstream } from '../helpers/upstream.ts';

t.test('a session established on one ext-proc replica works on the others', async (t) => {
  const identity = await testIdentity();
  const app = await startUpstream(t, echoApp);
  const replicas = [];
  for (let i = 0; i < 2; i++) {
    const ep = await startExtProc({ http: { enabled: false } }, { identity, logger: silentLogger });
    t.teardown(() => ep.close());
    replicas.push(ep);
  }
  const listenPort = await freePort();
  const envoy = await startOnlineEnvoy(t, { listenPort, appPort: app.port, extProcPort: replicas[0]!.port, extProcReplicaPorts: [replicas[1]!.port] });
  t.equal(await envoy.stat('cluster.ext_proc.membership_total'), 2, 'the ext_proc cluster has both replicas');
  const url = `http://127.0.0.1:${listenPort}/replicas`;

  const first = sealRequest('open', { jwk: identity.keys.x25519.publicJwk });
  let res = await fetch(url, { method: 'POST', body: first.body, headers: { 'content-type': first.contentType, [SESSION_HEADER]: 'new' } });
  t.equal(openResponse(await res.text(), first).toString(), 'I got your message: open');
  const session = sessionFromResponse(res.headers, first);
  for (let i = 0; i < 6; i++) {
    const sealed = sealSessionRequest(`dir ${i}`, session);
    res = await fetch(url, { method: 'POST', body: sealed.body, headers: { 'content-type': sealed.contentType } });
    t.equal(res.status, 200, `session message ${i}`);
    t.equal(openResponse(await res.text(), sealed).toString(), `I got your message: dir ${i}`);
  }
  t.same(replicas.map((r) => r.sessions.size), [1, 1], 'both replicas served the session');

  // A ticket sealed by another app identity is an unknown session on every replica.
  const other = await startExtProc({ http: { enabled: false }, identityDir: t.testdir() }, { logger: silentLogger });
  t.teardown(() => other.close());
  const foreignTicket = other.sessions.create(session.key.subarray(0, 16), 'A128GCM').id;
  const forged = sealSessionRequest('forged', { ...session, id: foreignTicket });
  res = await fetch(url, { method: 'POST', body: forged.body, headers: { 'content-type': forged.contentType } });
  t.equal(res.status, 401);
  t.match(await res.json(), { code: 'SESSION_UNKNOWN' });
  t.equal(app.requests.filter((r) => r.body === 'forged').length, 0, 'nothing reached the app');
});
