// The demo's embedded default ports (all on 127.0.0.1), or free ones for tests.
// xDS/SDS, ext-proc, ext-authz and ra-proxy are Unix sockets (demo.ts), not ports.
import { freePorts } from '../free-port.ts';

export interface DemoPorts {
  envoy: number;
  envoyMtls: number;
  /** The Trustflow-compatible ingress (Trustflow's sample client talks to :50001). */
  envoyTrustflow: number;
  envoyAdmin: number;
  controlPlaneApi: number;
  cmGrpc: number;
  cmHttp: number;
  extProcHttp: number;
  extProcTrustflowHttp: number;
  extAuthzHttp: number;
  app: number;
}

export const DEFAULT_PORTS: DemoPorts = {
  envoy: 8443,
  envoyMtls: 8444,
  envoyTrustflow: 50001,
  envoyAdmin: 9901,
  controlPlaneApi: 18001,
  cmGrpc: 8888,
  cmHttp: 8889,
  extProcHttp: 9111,
  extProcTrustflowHttp: 9113,
  extAuthzHttp: 9112,
  app: 8000,
};

export async function autoPorts(): Promise<DemoPorts> {
  const names = Object.keys(DEFAULT_PORTS) as Array<keyof DemoPorts>;
  const ports = await freePorts(names.length);
  return Object.fromEntries(names.map((n, i) => [n, ports[i]!])) as unknown as DemoPorts;
}
