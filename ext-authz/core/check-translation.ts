// Envoy CheckRequest <-> the decision core (pure translation, golden-tested).
//
// Inputs (envoy.service.auth.v3.AttributeContext):
//   source.certificate   URL-encoded PEM of the downstream peer certificate; set
//                        only with include_peer_certificate: true (interface 1)
//   request.http.path    path with query; method; headers (lower-case keys)
// Outputs:
//   allow -> OkHttpResponse: x-aenv-party-id / x-aenv-group-id / x-aenv-jwt-sub
//            set (OVERWRITE: a client cannot pre-set them) and any client-sent
//            copies removed when the identity lacks them.
//   deny  -> DeniedHttpResponse 401/403, header x-aenv-authz-code and
//            x-aenv-authz-reason, JSON body {code, message}.
import type { CheckRequest, CheckResponse } from '../../proto/gen/envoy/service/auth/v3/external_auth.ts';
import { HeaderValueOption_HeaderAppendAction } from '../../proto/gen/envoy/config/core/v3/base.ts';
import type { AuthzInput } from './authorizer.ts';
import type { Decision } from './decision.ts';

// google.rpc.Code values
const RPC_OK = 0;
const RPC_UNAUTHENTICATED = 16;
const RPC_PERMISSION_DENIED = 7;

export const IDENTITY_HEADERS = ['x-aenv-party-id', 'x-aenv-group-id', 'x-aenv-jwt-sub'] as const;

export function toAuthzInput(req: CheckRequest): AuthzInput {
  const http = req.attributes?.request?.http;
  let peerCertPem = '';
  const raw = req.attributes?.source?.certificate ?? '';
  if (raw) {
    try {
      peerCertPem = decodeURIComponent(raw);
    } catch {
      // Malformed encoding: treat as a certificate that will fail to parse, never as "no certificate".
      peerCertPem = raw;
    }
  }
  // The network ext_authz filter (TCP, e.g. the interact ingress) sends no HTTP
  // attributes: such a check is "TCP /", so a rule for "/" without methods (or
  // with methods: [TCP]) governs connections.
  return {
    path: http ? http.path : '/',
    method: http ? http.method : 'TCP',
    ...(peerCertPem ? { peerCertPem } : {}),
    ...(http?.headers?.authorization !== undefined ? { authorization: http.headers.authorization } : {}),
  };
}

function header(key: string, value: string) {
  return { header: { key, value, rawValue: Buffer.alloc(0) }, append: undefined, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD, keepEmptyValue: false };
}

export function toCheckResponse(d: Decision): Partial<CheckResponse> {
  if (d.allow) {
    const id = d.identity ?? {};
    const values: Record<(typeof IDENTITY_HEADERS)[number], string | undefined> = {
      'x-aenv-party-id': id.partyId,
      'x-aenv-group-id': id.groupId,
      'x-aenv-jwt-sub': id.jwtSub,
    };
    return {
      status: { code: RPC_OK, message: '', details: [] },
      okResponse: {
        headers: IDENTITY_HEADERS.filter((h) => values[h] !== undefined).map((h) => header(h, values[h]!)),
        headersToRemove: IDENTITY_HEADERS.filter((h) => values[h] === undefined),
        responseHeadersToAdd: [],
        dynamicMetadata: undefined,
        queryParametersToRemove: [],
        queryParametersToSet: [],
      },
    };
  }
  return {
    status: { code: d.httpStatus === 401 ? RPC_UNAUTHENTICATED : RPC_PERMISSION_DENIED, message: d.reason, details: [] },
    deniedResponse: {
      status: { code: d.httpStatus },
      headers: [header('x-aenv-authz-code', d.code), header('x-aenv-authz-reason', d.reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 512)), header('content-type', 'application/json')],
      body: JSON.stringify({ code: d.code, message: d.reason }),
    },
  };
}
