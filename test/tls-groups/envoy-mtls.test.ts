// Real Envoy loads the group PEMs (Ed25519 CA, P-256 leaves, PKCS#8 keys) and
// enforces group mTLS: a member with a leaf gets through, strangers do not.
import t from 'tap';
import { startEnvoy } from '../helpers/envoy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { mtlsIngressBootstrap, mtlsGet } from '../helpers/tls-groups.ts';
import { freePort } from '../../dev/free-port.ts';
import { issueGroupTlsAsset, deriveSharedGroupAsset, groupUriPrefix } from '../../tls-groups/index.ts';
import { DATA_KEY, SIM_CLAIMS, EVIDENCE_DIGEST, p256 } from './fixtures.ts';

const base = { dataKey: DATA_KEY, scope: 'default', dataUuid: 'data-1' };

t.test('Envoy serves a group leaf and admits only group members', async (t) => {
  const server = p256();
  const client = p256();
  const srv = await issueGroupTlsAsset({ ...base, partyId: 'carol', subjectPublicKeyPem: server.publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST });
  const cli = await issueGroupTlsAsset({ ...base, partyId: 'bob', subjectPublicKeyPem: client.publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST });
  t.equal(srv.caCertPem, cli.caCertPem, 'one CA for the group');
  const prefix = groupUriPrefix(srv.groupId);
  const upstream = await startUpstream(t);
  const port = await freePort();
  await startEnvoy(t, { name: 'mtls', bootstrap: mtlsIngressBootstrap({ listenPort: port, upstreamPort: upstream.port, certPem: srv.leafCertPem, keyPem: server.privateKeyPem, caPem: srv.caCertPem, sanPrefix: prefix }) });

  const ok = await mtlsGet(port, '/hello', { certPem: cli.leafCertPem, keyPem: client.privateKeyPem, caPem: cli.caCertPem, expectServerUriPrefix: prefix });
  t.equal(ok.status, 200, 'member admitted');
  t.match(ok.serverUris, `URI:${prefix}party/carol`, 'server presented carol\'s leaf');
  const xfcc = String(upstream.requests.at(-1)?.headers['x-forwarded-client-cert'] ?? '');
  t.match(xfcc, `URI=${prefix}party/bob`, 'Envoy saw bob\'s party URI');

  await t.rejects(mtlsGet(port, '/hello', { caPem: cli.caCertPem, expectServerUriPrefix: prefix }), 'no client certificate: handshake refused');

  // a member of another group (other data key) is refused at the TLS layer
  const other = await issueGroupTlsAsset({ ...base, dataKey: Buffer.alloc(32, 9), partyId: 'mallory', subjectPublicKeyPem: client.publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST });
  await t.rejects(mtlsGet(port, '/hello', { certPem: other.leafCertPem, keyPem: client.privateKeyPem, caPem: cli.caCertPem, expectServerUriPrefix: prefix }), 'other group refused');
  t.equal(upstream.requests.length, 1, 'only the member\'s request reached the app');
});

t.test('Envoy loads the Trustflow shared asset (same cert and key on both sides)', async (t) => {
  const shared = await deriveSharedGroupAsset(base);
  const prefix = groupUriPrefix(shared.groupId);
  const upstream = await startUpstream(t);
  const port = await freePort();
  await startEnvoy(t, { name: 'shared', bootstrap: mtlsIngressBootstrap({ listenPort: port, upstreamPort: upstream.port, certPem: shared.certPem, keyPem: shared.privateKeyPem, caPem: shared.caCertPem, sanPrefix: prefix }) });
  const r = await mtlsGet(port, '/x', { certPem: shared.certPem, keyPem: shared.privateKeyPem, caPem: shared.caCertPem, expectServerUriPrefix: prefix });
  t.equal(r.status, 200);
  t.match(r.serverUris, `URI:${prefix}shared`);
});
