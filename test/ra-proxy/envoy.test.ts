// ra-proxy behind a real Envoy, routed as the online ingress does (interface 1):
// /RaProxy and /.well-known/attestation to cluster "ra_proxy" (HTTP/1.1), plus the
// gRPC service over an HTTP/2 cluster.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEphemeralAppIdentity } from '../../platforms/index.ts';
import { freePort } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { verifyAttestationDocument, verifyRaCertResponse } from '../../platforms/catalog/verify-attestation.ts';
import { createEvidenceVerifier } from '../../platforms/index.ts';
import { RaProxyClient, type GetRaCertResponse } from '../../proto/gen/secretflowapis/v2/sdc/ra_proxy/ra_proxy.ts';
import { UnifiedAttestationReport } from '../../proto/gen/secretflowapis/v2/sdc/ual.ts';
import { startRaProxy } from '../../ra-proxy/start.ts';
import { startEnvoy } from '../helpers/envoy.ts';
import { ROUTER_FILTER, staticCluster } from '../helpers/static-bootstrap.ts';

t.test('attestation through a real Envoy', async (t) => {
  const identity = await createEphemeralAppIdentity();
  const rp = await startRaProxy({ platform: 'sim', sim: { keyDir: join(mkdtempSync(join(tmpdir(), 'ra-envoy-')), 'sim'), measurements: { mr_enclave: 'aa'.repeat(32) } } }, { identity, logger: silentLogger });
  t.teardown(() => rp.close());
  const port = await freePort();
  await startEnvoy(t, {
    name: 'ra-proxy',
    bootstrap: {
      node: { id: 'ra', cluster: 'ra' },
      static_resources: {
        listeners: [{
          name: 'ingress',
          address: { socket_address: { address: '127.0.0.1', port_value: port } },
          filter_chains: [{ filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'ingress',
              codec_type: 'AUTO',
              route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [
                { match: { prefix: '/RaProxy' }, route: { cluster: 'ra_proxy' } },
                { match: { path: '/.well-known/attestation' }, route: { cluster: 'ra_proxy' } },
                { match: { prefix: '/secretflowapis.v2.sdc.ra_proxy.RaProxy/' }, route: { cluster: 'ra_proxy_grpc' } },
              ] }] },
              http_filters: [ROUTER_FILTER],
            },
          }] }],
        }],
        clusters: [staticCluster('ra_proxy', rp.httpPort), staticCluster('ra_proxy_grpc', rp.grpcPort!, { http2: true })],
      },
    },
  });
  const verifier = createEvidenceVerifier({ trustedSimKeys: [rp.simPublicKeyPem!] });
  const policy = { measurements: { mr_enclave: 'aa'.repeat(32) }, allowInsecure: true };
  const base = `http://127.0.0.1:${port}`;

  const d = await fetch(`${base}/.well-known/attestation?nonce=via-envoy-1`);
  t.equal(d.status, 200);
  t.ok(d.headers.get('x-envoy-upstream-service-time') !== null, 'served through Envoy');
  const got = await verifyAttestationDocument(await d.json(), { nonce: 'via-envoy-1', policy, verifier });
  t.equal(got.keySetDigest.toString('hex'), identity.keySetDigest.toString('hex'));

  const r = await fetch(`${base}/RaProxy/GetRaCert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce: 'via-envoy-2' }) });
  t.equal(r.status, 200);
  t.equal((await verifyRaCertResponse(await r.json(), { nonce: 'via-envoy-2', policy, verifier })).certPem, identity.certPem);
  const replay = await fetch(`${base}/.well-known/attestation?nonce=via-envoy-1`);
  t.equal(replay.status, 409, 'replay rejected through Envoy too');

  const client = new RaProxyClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const resp = await new Promise<GetRaCertResponse>((resolve, reject) => client.getRaCert({ header: undefined, nonce: 'via-envoy-3', refreshRaReport: false }, (e, x) => (e ? reject(e) : resolve(x!))));
  const json = { status: resp.status, cert: resp.cert, attestation_report: UnifiedAttestationReport.toJSON(resp.attestationReport!) };
  t.equal((await verifyRaCertResponse(json, { nonce: 'via-envoy-3', policy, verifier })).claims.platform, 'sim');
});
