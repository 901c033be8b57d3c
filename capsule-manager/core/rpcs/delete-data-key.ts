// DeleteDataKey: an owner removes one of its data keys.
import { Type } from '@sinclair/typebox';
import { parseResourceUri } from '../model.ts';
import { defineRpc } from '../rpc/rpc.ts';

export const deleteDataKey = defineRpc({
  name: 'DeleteDataKey',
  auth: 'owner',
  schema: Type.Object({ owner_party_id: Type.String({ minLength: 1 }), resource_uri: Type.String({ minLength: 1 }) }),
  auditErrors: 'target',
  async handle(ctx, body, caller) {
    parseResourceUri(body.resource_uri);
    await ctx.repo.deleteDataKey(body.resource_uri, caller.owner!);
    return { response: {}, audit: [{ actor: caller.owner!, action: 'DeleteDataKey', target: body.resource_uri, decision: 'ok' }] };
  },
});
