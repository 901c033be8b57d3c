// GetDataKeys inside a release session (run by rpc/pipeline.ts runInSession,
// once the message opened under the session key and its seq was taken): the
// per-request release without the evidence. Every resource's rules are
// evaluated against the claims the session verified, the keys come from the
// store; the pipeline audits the decision (durable before the answer) and seals
// the answer under the session key with the same kid and seq. No RSA, no ECDH,
// no evidence, no nonce write per release.
import { Type } from '@sinclair/typebox';
import { authorizeRelease, dataKeysOf, ResourceRequestSchema, resourceRequestOf } from '../rpc/release.ts';
import type { SessionRpcDef } from '../rpc/rpc.ts';

export const SessionReleaseSchema = Type.Object({ resource_request: ResourceRequestSchema });

export const sessionGetDataKeys: SessionRpcDef<typeof SessionReleaseSchema> = {
  name: 'GetDataKeys',
  schema: SessionReleaseSchema,
  async handle(ctx, body, session) {
    const rr = resourceRequestOf(body.resource_request);
    const { granted, audit } = await authorizeRelease(ctx, rr, session.claims, `${rr.initiator_party_id} via ${session.partyId}`, 'GetDataKeys');
    ctx.observer?.keysReleased('GetDataKeys', granted.length);
    return { response: { data_keys: dataKeysOf(granted) }, audit: [audit] };
  },
};
