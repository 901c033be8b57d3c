// DeleteDataPolicy: an owner removes its data's policy in a scope.
import { Type } from '@sinclair/typebox';
import { CmError } from '../../errors.ts';
import { scopeField } from '../rpc/fields.ts';
import { defineRpc } from '../rpc/rpc.ts';

export const deleteDataPolicy = defineRpc({
  name: 'DeleteDataPolicy',
  auth: 'owner',
  schema: Type.Object({
    owner_party_id: Type.String({ minLength: 1 }),
    scope: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    data_uuid: Type.String({ minLength: 1 }),
  }),
  auditErrors: 'target',
  async handle(ctx, body, caller) {
    const owner = caller.owner!;
    const scope = scopeField(body.scope);
    const uuid = body.data_uuid;
    await ctx.repo.modifyPolicy(scope, uuid, (cur) => {
      if (!cur) throw new CmError('NOT_FOUND', `no policy for ${uuid} in scope ${scope}`);
      if (cur.owner_party_id !== owner) throw new CmError('NOT_OWNER', `policy of ${uuid} belongs to another party`);
      return undefined;
    });
    return { response: {}, audit: [{ actor: owner, action: 'DeleteDataPolicy', target: `${scope}/${uuid}`, decision: 'ok' }] };
  },
});
