// CreateDataPolicy: a registered owner sets the rules of its data (per scope).
import { Type } from '@sinclair/typebox';
import { normalizePolicy, type Policy } from '../model.ts';
import { scopeField } from '../rpc/fields.ts';
import { defineRpc } from '../rpc/rpc.ts';

export const createDataPolicy = defineRpc({
  name: 'CreateDataPolicy',
  auth: 'registered-owner',
  schema: Type.Object({
    owner_party_id: Type.String({ minLength: 1 }),
    scope: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    policy: Type.Object({}, { additionalProperties: true }),
  }),
  auditErrors: 'target',
  async handle(ctx, body, caller) {
    const owner = caller.owner!;
    const scope = scopeField(body.scope);
    const policy = normalizePolicy(body.policy as Partial<Policy>);
    await ctx.repo.claimDataset(policy.data_uuid, owner);
    await ctx.repo.modifyPolicy(scope, policy.data_uuid, () => ({ owner_party_id: owner, policy }));
    return { response: {}, audit: [{ actor: owner, action: 'CreateDataPolicy', target: `${scope}/${policy.data_uuid}`, decision: 'ok' }] };
  },
});
