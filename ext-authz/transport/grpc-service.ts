// Transport: envoy.service.auth.v3.Authorization over grpc-js. Any unexpected
// error becomes a gRPC error, which Envoy (failure_mode_allow: false) turns into
// a deny: fail closed.
import type * as grpc from '@grpc/grpc-js';
import { AuthorizationService, CheckResponse, type CheckRequest } from '../../proto/gen/envoy/service/auth/v3/external_auth.ts';
import type { Logger } from '../../foundation/logger.ts';
import { toGrpcError } from '../../net/grpc-server.ts';
import type { Authorizer } from '../core/authorizer.ts';
import { toAuthzInput, toCheckResponse } from '../core/check-translation.ts';
import type { ExtAuthzMetrics } from './metrics.ts';

export function addAuthorizationService(server: grpc.Server, authorizer: Authorizer, m: ExtAuthzMetrics, log: Logger): void {
  server.addService(AuthorizationService, {
    check: (call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>, cb: grpc.sendUnaryData<CheckResponse>) => {
      const end = m.checkSeconds.startTimer();
      const input = toAuthzInput(call.request);
      authorizer.check(input).then(
        ({ decision, cached }) => {
          end();
          m.decisions.inc({ result: decision.allow ? 'allow' : 'deny', code: decision.code });
          if (cached) m.cacheHits.inc();
          if (!decision.allow) log.info({ code: decision.code, rule: decision.rule, method: input.method, path: input.path }, decision.reason);
          cb(null, CheckResponse.fromPartial(toCheckResponse(decision)));
        },
        (e: unknown) => {
          end();
          m.decisions.inc({ result: 'error', code: 'INTERNAL' });
          log.error({ err: e }, 'check failed');
          cb(toGrpcError(e));
        },
      );
    },
  });
}
