// The demo's embedded default ports (all on 127.0.0.1), or free ones for tests.
import { freePorts } from '../free-port.ts';

export interface DemoPorts {
  envoy: number;
  envoyMtls: number;
  /** The Trustflow-compatible ingress (Trustflow's sample client talks to :50001). */
  envoyTrustflow: number;
  envoyAdmin: number;
  xds: number;
  controlPlaneApi: number;
  cmGrpc: number;
  cmHttp: number;
  raProxyHttp: number;
  raProxyGrpc: number;
  extProc: number;
  extProcHttp: number;
  extProcTrustflow: number;
  extProcTrustflowHttp: number;
  extAuthz: number;
  extAuthzHttp: number;
  app: number;
}

export const DEFAULT_PORTS: DemoPorts = {
  envoy: 8443,
  envoyMtls: 8444,
  envoyTrustflow: 50001,
  envoyAdmin: 9901,
  xds: 18000,
  controlPlaneApi: 18001,
  cmGrpc: 8888,
  cmHttp: 8889,
  raProxyHttp: 8890,
  raProxyGrpc: 8891,
  extProc: 9101,
  extProcHttp: 9111,
  extProcTrustflow: 9103,
  extProcTrustflowHttp: 9113,
  extAuthz: 9102,
  extAuthzHttp: 9112,
  app: 8000,
};

export async function autoPorts(): Promise<DemoPorts> {
  const names = Object.keys(DEFAULT_PORTS) as Array<keyof DemoPorts>;
  const ports = await freePorts(names.length);
  return Object.fromEntries(names.map((n, i) => [n, ports[i]!])) as unknown as DemoPorts;
}
