// `interact`: two TEE apps talking over mutual TLS (scenario 3). The ingress
// terminates mTLS (client certificate required) and forwards TCP to the local
// app; each egress takes plaintext from the local app and originates mTLS to a
// peer. Certificates and trust anchors are SDS secrets by name, served by this
// control plane (set through `secrets.set`), never files.
// With `ingress.extAuthz`, every new ingress connection is first checked by the
// network ext_authz filter (peer certificate included), so a party revoked at
// ext-authz is refused on its next connection even though its certificate is
// still valid. Fail closed: failure_mode_allow false.
// ext_authz checks a connection once, when it opens, and TLS checks the
// certificate once, in the handshake; so the ingress closes every connection
// `maxConnectionSeconds` after it opened (default 3600, the default leaf
// lifetime): a revoked party or an expired leaf keeps no connection longer, and
// a peer that is still allowed simply reconnects.
import { Type } from '@sinclair/typebox';
import { ApiVersion } from '../../../proto/gen/envoy/config/core/v3/config_source.ts';
import { ExtAuthz } from '../../../proto/gen/envoy/extensions/filters/network/ext_authz/v3/ext_authz.ts';
import { pack } from '../xds/type-urls.ts';
import { definePlugin } from './plugin.ts';
import { Endpoint, ListenAddress, ResourceName, edsCluster, sdsTlsContext, tcpListener, TcpLimits } from './envoy-builders.ts';
import type { SnapshotInput } from '../xds/snapshot.ts';

/** The default group leaf lifetime: no connection outlives the certificate it began with. */
const DEFAULT_MAX_CONNECTION_SECONDS = 3600;

const Tls = {
  certSecret: Type.String({ minLength: 1, maxLength: 128, description: 'SDS secret holding this side\'s certificate and key' }),
  caSecret: Type.String({ minLength: 1, maxLength: 128, description: 'SDS secret holding the trusted CA (the group CA)' }),
};

export const InteractConfig = Type.Object(
  {
    ingress: Type.Optional(
      Type.Object(
        {
          listener: ListenAddress,
          app: Endpoint,
          ...Tls,
          extAuthz: Type.Optional(
            Type.Object(Endpoint.properties, { additionalProperties: false, description: 'ext-authz gRPC service checking every new connection (network ext_authz filter before tcp_proxy)' }),
          ),
          maxConnectionSeconds: Type.Integer({
            minimum: 0,
            maximum: 604_800,
            default: DEFAULT_MAX_CONNECTION_SECONDS,
            description: 'close each ingress connection this long after it opened, so revocation and leaf expiry reach open connections; 0 = never',
          }),
          limits: TcpLimits,
        },
        { additionalProperties: false },
      ),
    ),
    egress: Type.Array(
      Type.Object(
        {
          name: ResourceName,
          listener: ListenAddress,
          peer: Endpoint,
          sni: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
          ...Tls,
          limits: TcpLimits,
        },
        { additionalProperties: false },
      ),
      { default: [], maxItems: 64 },
    ),
  },
  { additionalProperties: false },
);

export const interactPlugin = definePlugin({
  name: 'interact',
  description: 'mTLS ingress (client cert required) to the local app and mTLS egress listeners to peers; certs over SDS',
  schema: InteractConfig,
  translate(cfg, instance) {
    const out: Required<Pick<SnapshotInput, 'listeners' | 'clusters' | 'endpoints'>> = { listeners: [], clusters: [], endpoints: [] };
    if (cfg.ingress) {
      const name = `${instance}_ingress`;
      const app = edsCluster(`${name}_app`, [cfg.ingress.app]);
      out.clusters.push(app.cluster);
      out.endpoints.push(app.endpoints);
      const authzCluster = `${name}_ext_authz`;
      const authz = cfg.ingress.extAuthz ? edsCluster(authzCluster, [cfg.ingress.extAuthz], { protocol: 'http2' }) : undefined;
      if (authz) {
        out.clusters.push(authz.cluster);
        out.endpoints.push(authz.endpoints);
      }
      // ext_authz (when configured) decides on each new connection before tcp_proxy.
      const before = authz
        ? [
            {
              name: 'envoy.filters.network.ext_authz',
              typedConfig: pack(
                'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
                ExtAuthz.fromPartial({
                  statPrefix: `${name}_authz`,
                  grpcService: { envoyGrpc: { clusterName: authzCluster }, timeout: { seconds: 5 } },
                  transportApiVersion: ApiVersion.V3,
                  failureModeAllow: false,
                  includePeerCertificate: true,
                }),
              ),
            },
          ]
        : [];
      out.listeners.push(
        tcpListener(name, cfg.ingress.listener as { address: string; port: number }, `${name}_app`, cfg.ingress.limits, {
          tls: { commonTlsContext: sdsTlsContext(cfg.ingress.certSecret, cfg.ingress.caSecret), requireClientCertificate: true },
          before,
          maxConnectionSeconds: cfg.ingress.maxConnectionSeconds ?? DEFAULT_MAX_CONNECTION_SECONDS,
        }),
      );
    }
    for (const e of cfg.egress ?? []) {
      const name = `${instance}_egress_${e.name}`;
      const peer = edsCluster(name, [e.peer], { tls: { commonTlsContext: sdsTlsContext(e.certSecret, e.caSecret), ...(e.sni ? { sni: e.sni } : {}) } });
      out.clusters.push(peer.cluster);
      out.endpoints.push(peer.endpoints);
      out.listeners.push(tcpListener(name, e.listener as { address: string; port: number }, name, e.limits));
    }
    return out;
  },
});
