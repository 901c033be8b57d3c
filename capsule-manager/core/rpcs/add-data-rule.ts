// AddDataRule: a registered owner adds one rule to its data's policy.
import { Type } from '@sinclair/typebox';
import { CmError } from '../../errors.ts';
import { checkDataUuid, normalizeRule } from '../model.ts';
import { scopeField } from '../rpc/fields.ts';
import { defineRpc } from '../rpc/rpc.ts';

export const addDataRule = defineRpc({
  name: 'AddDataRule',
  auth: 'registered-owner',
  schema: Type.Object({
    owner_party_id: Type.String({ minLength: 1 }),
    scope: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    data_uuid: Type.String({ minLength: 1 }),
    rule: Type.Object({}, { additionalProperties: true }),
  }),
  auditErrors: 'target',
  async handle(ctx, body, caller) {
    const owner = caller.owner!;
    const scope = scopeField(body.scope);
    const uuid = body.data_uuid;
    checkDataUuid(uuid);
    const rule = normalizeRule(body.rule);
    await ctx.repo.claimDataset(uuid, owner);
    await ctx.repo.modifyPolicy(scope, uuid, (cur) => {
      if (cur && cur.owner_party_id !== owner) throw new CmError('NOT_OWNER', `policy of ${uuid} belongs to another party`);
      const rules = cur?.policy.rules ?? [];
      if (rules.some((r) => r.rule_id === rule.rule_id)) throw new CmError('ALREADY_EXISTS', `rule ${rule.rule_id} already exists`);
      return { owner_party_id: owner, policy: { data_uuid: uuid, rules: [...rules, rule] } };
    });
    return { response: {}, audit: [{ actor: owner, action: 'AddDataRule', target: `${scope}/${uuid}/${rule.rule_id}`, decision: 'ok' }] };
  },
});
