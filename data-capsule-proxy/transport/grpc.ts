// gRPC transport: secretflowapis.v2.sdc.data_capsule_proxy.DataCapsuleProxy.
// Success is Status{code 0, "success"} in the response; failures are a gRPC
// status carrying the error code (x-error-code metadata), as the other
// components do.
import * as grpc from '@grpc/grpc-js';
import { toGrpcError } from '../../net/grpc-server.ts';
import type { Logger } from '../../foundation/logger.ts';
import {
  DataCapsuleProxyService,
  GetInputDataResponse,
  PutResultDataResponse,
  type GetInputDataRequest,
  type PutResultDataRequest,
} from '../../proto/gen/secretflowapis/v2/sdc/data_capsule_proxy/data_capsule_proxy.ts';
import { okInputResponse, okResultResponse, type DataCapsuleProxyCore } from '../core/service.ts';

export const DCP_SERVICE_NAME = 'secretflowapis.v2.sdc.data_capsule_proxy.DataCapsuleProxy';

function fail(log: Logger, rpc: string, e: unknown): Partial<grpc.ServiceError> {
  const err = toGrpcError(e);
  if (err.code === grpc.status.INTERNAL || err.code === grpc.status.UNAVAILABLE) log.error({ err: e, rpc }, 'request failed');
  else log.info({ rpc, code: err.metadata?.get('x-error-code')[0] }, 'request rejected');
  return err;
}

export function addDcpGrpc(server: grpc.Server, core: DataCapsuleProxyCore, log: Logger): void {
  server.addService(DataCapsuleProxyService, {
    getInputData: (call: grpc.ServerUnaryCall<GetInputDataRequest, GetInputDataResponse>, cb: grpc.sendUnaryData<GetInputDataResponse>) => {
      core.getInputData(call.request).then(
        () => cb(null, GetInputDataResponse.fromPartial(okInputResponse())),
        (e: unknown) => cb(fail(log, 'GetInputData', e)),
      );
    },
    putResultData: (call: grpc.ServerUnaryCall<PutResultDataRequest, PutResultDataResponse>, cb: grpc.sendUnaryData<PutResultDataResponse>) => {
      core.putResultData(call.request).then(
        () => cb(null, PutResultDataResponse.fromPartial(okResultResponse())),
        (e: unknown) => cb(fail(log, 'PutResultData', e)),
      );
    },
  });
}
