// Real-Envoy fixtures for the group TLS tests: an mTLS ingress listener whose
// certificate and trust bundle are given inline, and a node https client that
// presents a group leaf and checks the server's group URI (not a hostname).
import { request } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { downstreamMtls, httpListener, ROUTER_FILTER, staticCluster } from './static-bootstrap.ts';

export interface TlsIngressOptions {
  listenPort: number;
  upstreamPort: number;
  certPem: string;
  keyPem: string;
  caPem: string;
  /** Accept only peers whose URI SAN starts with this (e.g. aenv://group/<id>/). */
  sanPrefix: string;
}

/** A static bootstrap: DownstreamTlsContext with require_client_certificate, forwarding the client's URI in XFCC. */
export function mtlsIngressBootstrap(o: TlsIngressOptions): Record<string, unknown> {
  return {
    node: { id: 'tls-groups', cluster: 'tls-groups' },
    static_resources: {
      listeners: [
        httpListener('ingress', o.listenPort, {
          forward_client_cert_details: 'SANITIZE_SET',
          set_current_client_cert_details: { uri: true },
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
          http_filters: [ROUTER_FILTER],
        }, downstreamMtls(o)),
      ],
      clusters: [staticCluster('app', o.upstreamPort)],
    },
  };
}

export interface MtlsResult {
  status: number;
  body: string;
  serverUris: string;
}

/** GET over mTLS; the server must present a cert whose URI SAN starts with `expectServerUriPrefix`. */
export function mtlsGet(port: number, path: string, o: { certPem?: string; keyPem?: string; caPem: string; expectServerUriPrefix: string }): Promise<MtlsResult> {
  return new Promise((resolve, reject) => {
    let serverUris = '';
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: 'GET',
      ca: o.caPem,
      ...(o.certPem ? { cert: o.certPem, key: o.keyPem } : {}),
      agent: false,
      // Group certificates name parties by URI, not by host name.
      checkServerIdentity: (_host, cert) => {
        serverUris = cert.subjectaltname ?? '';
        return serverUris.split(', ').some((s) => s.startsWith(`URI:${o.expectServerUriPrefix}`)) ? undefined : new Error(`server URI SAN "${serverUris}" not in group`);
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), serverUris }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export function uriSans(pem: string): string[] {
  return (new X509Certificate(pem).subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
}
