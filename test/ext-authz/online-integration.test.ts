// ext-authz with the control plane's `online` plugin (interface 1 as A builds
// it, delivered over ADS to a real Envoy) and D's real ext-proc: ext_authz runs
// first, so a request without a valid bearer token is answered 401 by ext-authz
// before anything is decrypted or reaches the app; a valid one goes on through
// ext_proc to the app with the verified subject; attestation passes a public rule.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { freePorts } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { startTestControlPlane } from '../helpers/control-plane.ts';
import { generateBootstrap } from '../../envoy-bootstrap/index.ts';
import { startExtAuthz } from '../../ext-authz/start.ts';
import { startExtProc } from '../../ext-proc/start.ts';
import { createEphemeralAppIdentity } from '../../platforms/index.ts';
import { until } from '../../examples/interact/interact-demo.ts';
import { jwtIssuer, ISSUER, AUDIENCE } from './fixtures.ts';

t.test('online plugin + ext-authz (JWT) on real Envoy', async (t) => {
  const iss = await jwtIssuer();
  const jwksFile = join(mkdtempSync(join(tmpdir(), 'jwks-')), 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(iss.jwks));
  const authz = await startExtAuthz({
    jwt: { issuer: ISSUER, audience: AUDIENCE, jwksFile },
    policy: { rules: [
      { name: 'api', pathPrefix: '/', jwt: true },
      { name: 'attestation', pathPrefix: '/.well-known/attestation', public: true },
      { name: 'ra-proxy', pathPrefix: '/RaProxy', public: true },
    ] },
  });
  t.teardown(() => authz.close());
  const app = await startUpstream(t);
  const ra = await startUpstream(t, (req, _b, res) => res.end(`ra-proxy: ${req.url}`));
  const [listen] = (await freePorts(1)) as [number];
  const ep = await startExtProc({ http: { enabled: false } }, { identity: await createEphemeralAppIdentity('online-authz'), logger: silentLogger });
  t.teardown(() => ep.close());
  const extProc = ep.port;
  const cp = await startTestControlPlane(t, { id: 'authz-online' });
  cp.setAppConfig({ plugins: [{ plugin: 'online', name: 'online_ingress', config: {
    listener: { address: '127.0.0.1', port: listen }, app: { address: '127.0.0.1', port: app.port },
    raProxy: { address: '127.0.0.1', port: ra.port }, extProc: { address: '127.0.0.1', port: extProc },
    extAuthz: { address: '127.0.0.1', port: authz.grpcPort },
  } }] });
  await startEnvoy(t, { name: 'authz-online', bootstrap: generateBootstrap({ nodeId: 'authz-online', cluster: 'o', ...cp.xdsTarget, mode: 'delta', adminPort: 0 }) });
  const url = `http://127.0.0.1:${listen}`;
  const att = await until('attestation route', async () => {
    const r = await fetch(`${url}/.well-known/attestation?nonce=abc`).catch(() => undefined);
    return r?.status === 200 ? r : undefined;
  });
  t.equal(await att.text(), 'ra-proxy: /.well-known/attestation?nonce=abc', 'public rule: attestation reaches ra-proxy');
  const none = await fetch(`${url}/infer`, { method: 'POST', body: 'x' });
  t.equal(none.status, 401, 'no token: 401 from ext-authz');
  t.equal(none.headers.get('x-aenv-authz-code'), 'JWT_MISSING');
  const forged = await fetch(`${url}/infer`, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${await (await jwtIssuer()).sign()}` } });
  t.equal(forged.status, 401, 'token from another issuer key: 401');
  t.equal(app.requests.length, 0, 'nothing reached the app without a valid token');
  const good = await fetch(`${url}/infer`, { method: 'POST', body: 'plain', headers: { authorization: `Bearer ${await iss.sign()}`, 'x-aenv-jwt-sub': 'forged' } });
  t.not(good.status, 401, `valid token passes ext-authz (HTTP ${good.status})`);
  t.not(good.status, 403);
  t.equal(app.requests.length, 1, 'plain request passed ext_proc to the app');
  t.equal(app.requests.at(-1)?.headers['x-aenv-jwt-sub'], 'user-1', 'the app sees the verified subject, not the forged one');
});
