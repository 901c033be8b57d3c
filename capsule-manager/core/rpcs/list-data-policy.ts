// ListDataPolicy: an owner lists its policies in a scope.
import { Type } from '@sinclair/typebox';
import { scopeField } from '../rpc/fields.ts';
import { defineRpc } from '../rpc/rpc.ts';

export const listDataPolicy = defineRpc({
  name: 'ListDataPolicy',
  auth: 'owner',
  schema: Type.Object({ owner_party_id: Type.String({ minLength: 1 }), scope: Type.Optional(Type.Union([Type.String(), Type.Null()])) }),
  auditErrors: 'target',
  async handle(ctx, body, caller) {
    const scope = scopeField(body.scope);
    const policies = (await ctx.repo.listPolicies(scope)).filter((p) => p.owner_party_id === caller.owner).map((p) => p.policy);
    return { response: { policies }, audit: [] };
  },
});
