// DeleteDataRule: an owner removes one rule from its data's policy.
import { Type } from '@sinclair/typebox';
import { CmError } from '../../errors.ts';
import { scopeField } from '../rpc/fields.ts';
import { defineRpc } from '../rpc/rpc.ts';

export const deleteDataRule = defineRpc({
  name: 'DeleteDataRule',
  auth: 'owner',
  schema: Type.Object({
    owner_party_id: Type.String({ minLength: 1 }),
    scope: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    data_uuid: Type.String({ minLength: 1 }),
    rule_id: Type.String({ minLength: 1 }),
  }),
  auditErrors: 'target',
  async handle(ctx, body, caller) {
    const owner = caller.owner!;
    const scope = scopeField(body.scope);
    const { data_uuid: uuid, rule_id: ruleId } = body;
    await ctx.repo.modifyPolicy(scope, uuid, (cur) => {
      if (!cur || !cur.policy.rules.some((r) => r.rule_id === ruleId)) throw new CmError('NOT_FOUND', `no rule ${ruleId} on ${uuid}`);
      if (cur.owner_party_id !== owner) throw new CmError('NOT_OWNER', `policy of ${uuid} belongs to another party`);
      return { ...cur, policy: { ...cur.policy, rules: cur.policy.rules.filter((r) => r.rule_id !== ruleId) } };
    });
    return { response: {}, audit: [{ actor: owner, action: 'DeleteDataRule', target: `${scope}/${uuid}/${ruleId}`, decision: 'ok' }] };
  },
});
