// HTTP JSON transport (fastify): the same two RPCs with snake_case JSON bodies
// (the proto's json_name), at the gRPC-style paths and at /api/v1/... aliases.
import type { FastifyInstance } from 'fastify';
import { GetInputDataRequest, PutResultDataRequest } from '../../proto/gen/secretflowapis/v2/sdc/data_capsule_proxy/data_capsule_proxy.ts';
import type { DataCapsuleProxyCore } from '../core/service.ts';

/** Written out rather than via toJSON(), which drops proto3 defaults: Trustflow clients read status.code 0. */
const OK_JSON = { status: { code: 0, message: 'success' } };

const body = { type: 'object' } as const;

export const DCP_HTTP_ROUTES = {
  getInputData: ['/DataCapsuleProxy/GetInputData', '/api/v1/data_capsule_proxy/get_input_data'],
  putResultData: ['/DataCapsuleProxy/PutResultData', '/api/v1/data_capsule_proxy/put_result_data'],
} as const;

export function registerDcpRoutes(app: FastifyInstance, core: DataCapsuleProxyCore): void {
  for (const url of DCP_HTTP_ROUTES.getInputData) {
    app.post(url, { schema: { body } }, async (req) => {
      await core.getInputData(GetInputDataRequest.fromJSON(req.body));
      return OK_JSON;
    });
  }
  for (const url of DCP_HTTP_ROUTES.putResultData) {
    app.post(url, { schema: { body } }, async (req) => {
      await core.putResultData(PutResultDataRequest.fromJSON(req.body));
      return OK_JSON;
    });
  }
}
