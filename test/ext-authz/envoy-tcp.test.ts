// The network ext_authz filter on a TCP mTLS ingress (the interact shape):
// each new connection is checked; a revoked party's next connection is refused.
import t from 'tap';
import * as tls from 'node:tls';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { tcpExtAuthzBootstrap } from '../helpers/ext-authz.ts';
import { freePort } from '../../dev/free-port.ts';
import { startExtAuthz } from '../../ext-authz/start.ts';
import { member, groupTrust } from './fixtures.ts';

function exchange(port: number, m: { certPem: string; keyPem: string }): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, cert: m.certPem, key: m.keyPem }, () =>
      s.write('POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi'),
    );
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => resolve(`error; data=${Buffer.concat(chunks).length}`));
    s.on('close', () => resolve(Buffer.concat(chunks).toString() || 'closed without data'));
  });
}

t.test('TCP ingress: member connects, revoked member refused on the next connection', async (t) => {
  const trust = await groupTrust();
  const [server, bob, dave] = await Promise.all([member('carol'), member('bob'), member('dave')]);
  const authz = await startExtAuthz({ groups: [trust], policy: { rules: [{ name: 'interact', pathPrefix: '/', methods: ['TCP'], peers: { groups: [trust.groupId], parties: ['bob'] } }] } });
  t.teardown(() => authz.close());
  const upstream = await startUpstream(t);
  const port = await freePort();
  await startEnvoy(t, { name: 'tcp-authz', bootstrap: tcpExtAuthzBootstrap({ listenPort: port, upstreamPort: upstream.port, extAuthzPort: authz.grpcPort, tls: { certPem: server.certPem, keyPem: server.keyPem, caPem: server.caPem } }) });

  t.match(await exchange(port, bob), /HTTP\/1.1 200[\s\S]*"body":"hi"/, 'bob connects');
  t.notMatch(await exchange(port, dave), /HTTP\/1.1 200/, 'dave (group member, not in policy) refused');
  authz.authorizer.revocations.apply({ addParties: ['bob'] });
  t.notMatch(await exchange(port, bob), /HTTP\/1.1 200/, 'bob refused right after revocation');
  t.equal(upstream.requests.length, 1, 'only the first connection reached the app');
});
