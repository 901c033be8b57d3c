// gRPC transport: secretflowapis.v2.sdc.capsule_manager.CapsuleManager over
// grpc-js. Each handler converts the proto message to its JSON form, calls the
// service and converts back; errors map through toGrpcError.
import * as grpc from '@grpc/grpc-js';
import type { ListenEndpoint } from '../../net/listen.ts';
import { addReflection, bindServer, toGrpcError, type BoundServer } from '../../net/grpc-server.ts';
import type { Logger } from '../../foundation/logger.ts';
import { Status } from '../../proto/gen/secretflowapis/v2/status.ts';
import { Jwe } from '../../proto/gen/secretflowapis/v2/sdc/jwt.ts';
import {
  CapsuleManagerService as CapsuleManagerDefinition,
  EncryptedRequest,
  EncryptedResponse,
  GetRaCertRequest,
  GetRaCertResponse,
  type CapsuleManagerServer,
} from '../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { ReleaseSessionsService as ReleaseSessionsDefinition, type ReleaseSessionsServer } from '../../proto/gen/aenv/capsule_manager/v1/release_sessions.ts';
import { toPublicError } from '../../foundation/errors.ts';
import { ENCRYPTED_RPCS, type CapsuleManagerService, type EncryptedRequestJson, type EncryptedResponseJson, type EncryptedRpc } from '../core/capsule-manager-service.ts';

export const CM_SERVICE_NAME = 'secretflowapis.v2.sdc.capsule_manager.CapsuleManager';
export const SESSIONS_SERVICE_NAME = 'aenv.capsule_manager.v1.ReleaseSessions';

const lowerFirst = (s: string) => s[0]!.toLowerCase() + s.slice(1);

type Fail = (rpc: string, e: unknown) => grpc.ServiceError;

function failer(log?: Logger): Fail {
  return (rpc, e) => {
    const pub = toPublicError(e);
    if (pub.httpStatus >= 500) log?.error({ err: e, rpc }, 'rpc failed');
    else log?.info({ rpc, code: pub.body.code }, 'rpc rejected');
    return toGrpcError(e) as grpc.ServiceError;
  };
}

export function grpcHandlers(svc: CapsuleManagerService, log?: Logger): CapsuleManagerServer {
  const fail = failer(log);
  const handlers: Record<string, grpc.handleUnaryCall<unknown, unknown>> = {
    getRaCert: (call, cb) => {
      svc.getRaCert(GetRaCertRequest.toJSON(call.request as GetRaCertRequest) as { nonce?: string }).then(
        (r) => cb(null, GetRaCertResponse.fromJSON(r)),
        (e) => cb(fail('GetRaCert', e)),
      );
    },
  };
  for (const rpc of ENCRYPTED_RPCS) handlers[lowerFirst(rpc)] = encryptedHandler(rpc, (req) => svc.handle(rpc as EncryptedRpc, req), fail);
  return handlers as unknown as CapsuleManagerServer;
}

/** A unary handler of an EncryptedRequest -> EncryptedResponse RPC: proto <-> the service's JSON form. */
function encryptedHandler(rpc: string, run: (req: EncryptedRequestJson) => Promise<EncryptedResponseJson>, fail: Fail): grpc.handleUnaryCall<unknown, unknown> {
  return (call, cb) => {
    run(EncryptedRequest.toJSON(call.request as EncryptedRequest) as never).then(
      (r) => cb(null, EncryptedResponse.fromPartial({ status: Status.fromPartial(r.status), message: r.message ? Jwe.fromJSON(r.message) : undefined })),
      (e) => cb(fail(rpc, e)),
    );
  };
}

/** aenv.capsule_manager.v1.ReleaseSessions: attested release sessions (core/session/). */
export function sessionHandlers(svc: CapsuleManagerService, log?: Logger): ReleaseSessionsServer {
  const fail = failer(log);
  return {
    openReleaseSession: encryptedHandler('OpenReleaseSession', (req) => svc.openReleaseSession(req), fail),
    getDataKeys: encryptedHandler('SessionGetDataKeys', (req) => svc.sessionGetDataKeys(req), fail),
  } as ReleaseSessionsServer;
}

export async function startGrpc(svc: CapsuleManagerService, opts: ListenEndpoint & { log?: Logger }): Promise<BoundServer> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
  server.addService(CapsuleManagerDefinition, grpcHandlers(svc, opts.log));
  server.addService(ReleaseSessionsDefinition, sessionHandlers(svc, opts.log));
  addReflection(server, [CM_SERVICE_NAME, SESSIONS_SERVICE_NAME]);
  // The encrypted RPCs are signed (JWS) and sealed (JWE) end to end, so a
  // plaintext listener beyond loopback still authenticates every request.
  return bindServer(server, { host: opts.host, port: opts.port, socket: opts.socket, socketMode: opts.socketMode, tls: opts.tls, what: 'grpc', protectedBy: 'signed and encrypted envelopes' });
}
