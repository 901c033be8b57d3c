// CreateDataKeys: an owner uploads data keys (all or nothing).
import { Type } from '@sinclair/typebox';
import { CmError } from '../../errors.ts';
import { parseResourceUri } from '../model.ts';
import { dataKeyBytes } from '../rpc/fields.ts';
import { defineRpc } from '../rpc/rpc.ts';

export const createDataKeys = defineRpc({
  name: 'CreateDataKeys',
  auth: 'owner',
  schema: Type.Object({
    owner_party_id: Type.String({ minLength: 1 }),
    data_keys: Type.Optional(Type.Union([Type.Array(Type.Object({ resource_uri: Type.String({ minLength: 1 }), data_key_b64: Type.String({ minLength: 1 }) })), Type.Null()])),
  }),
  auditErrors: 'target',
  async handle(ctx, body, caller) {
    const owner = caller.owner!;
    if (!(await ctx.repo.getParty(owner))) throw new CmError('UNKNOWN_PARTY', 'register the owner certificate first (RegisterCert)');
    const keys = body.data_keys ?? [];
    if (keys.length === 0 || keys.length > 1024) throw new CmError('INVALID_REQUEST', 'data_keys must hold 1..1024 keys');
    // Validate everything before writing anything.
    const parsed = keys.map((k) => {
      const uri = k.resource_uri;
      const { dataUuid } = parseResourceUri(uri);
      return { uri, dataUuid, key: dataKeyBytes(k.data_key_b64, `data key of ${uri}`) };
    });
    if (new Set(parsed.map((p) => p.uri)).size !== parsed.length) throw new CmError('INVALID_REQUEST', 'data_keys lists a resource_uri twice');
    for (const p of parsed) {
      const ds = await ctx.repo.getDataset(p.dataUuid);
      if (ds && ds.owner_party_id !== owner) throw new CmError('NOT_OWNER', `data ${p.dataUuid} belongs to another party`);
      if (await ctx.repo.hasDataKey(p.uri)) throw new CmError('ALREADY_EXISTS', `a data key for ${p.uri} already exists`);
    }
    // All or nothing: undo this request's keys if a concurrent writer wins one of them.
    const created: string[] = [];
    try {
      for (const p of parsed) {
        await ctx.repo.claimDataset(p.dataUuid, owner);
        await ctx.repo.createDataKey(p.uri, owner, p.key);
        created.push(p.uri);
      }
    } catch (e) {
      for (const uri of created) await ctx.repo.deleteDataKey(uri, owner).catch(() => undefined);
      throw e;
    }
    return { response: {}, audit: created.map((uri) => ({ actor: owner, action: 'CreateDataKeys', target: uri, decision: 'ok' as const })) };
  },
});
