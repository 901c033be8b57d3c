// gRPC transport: secretflowapis.v2.sdc.ra_proxy.RaProxy/GetRaCert. Failures
// are both a gRPC status (for grpc-js clients) and, as Trustflow expects,
// carried in the response's status when the call itself succeeded.
import * as grpc from '@grpc/grpc-js';
import { toGrpcError } from '../../net/grpc-server.ts';
import { GetRaCertResponse, RaProxyService, type GetRaCertRequest } from '../../proto/gen/secretflowapis/v2/sdc/ra_proxy/ra_proxy.ts';
import { UnifiedAttestationReport } from '../../proto/gen/secretflowapis/v2/sdc/ual.ts';
import type { Logger } from '../../foundation/logger.ts';
import type { RaService } from '../core/service.ts';

export const RA_PROXY_SERVICE_NAME = 'secretflowapis.v2.sdc.ra_proxy.RaProxy';

export function addRaProxyGrpc(server: grpc.Server, svc: RaService, log: Logger): void {
  server.addService(RaProxyService, {
    getRaCert: (call: grpc.ServerUnaryCall<GetRaCertRequest, GetRaCertResponse>, cb: grpc.sendUnaryData<GetRaCertResponse>) => {
      svc.getRaCert(call.request.nonce).then(
        (r) =>
          cb(
            null,
            GetRaCertResponse.fromPartial({
              status: { code: 0, message: r.status.message, details: [] },
              cert: r.cert,
              attestationReport: UnifiedAttestationReport.fromJSON(r.attestation_report),
            }),
          ),
        (e: unknown) => {
          const err = toGrpcError(e);
          if (err.code === grpc.status.INTERNAL || err.code === grpc.status.UNAVAILABLE) log.error({ err: e }, 'GetRaCert failed');
          cb(err);
        },
      );
    },
  });
}
