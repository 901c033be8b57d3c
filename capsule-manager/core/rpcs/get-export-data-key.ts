// GetExportDataKey: a party exports a (result) data key, allowed only when
// every original owner (through lineage) voted to approve this export.
import { Type } from '@sinclair/typebox';
import { CmError } from '../../errors.ts';
import { checkExportVotes } from '../export-votes.ts';
import { originalOwners } from '../lineage.ts';
import { parseResourceUri } from '../model.ts';
import { defineRpc, withAudit } from '../rpc/rpc.ts';

export const getExportDataKey = defineRpc({
  name: 'GetExportDataKey',
  auth: 'signer',
  schema: Type.Object({
    request_party_id: Type.String({ minLength: 1 }),
    resource_uri: Type.String({ minLength: 1 }),
    data_export_certificate: Type.String({ minLength: 1 }),
  }),
  auditErrors: 'own',
  async handle(ctx, body, { signer }) {
    const requester = body.request_party_id;
    const uri = body.resource_uri;
    const { dataUuid } = parseResourceUri(uri);
    if (requester !== signer.partyId) throw new CmError('NOT_OWNER', 'request_party_id is not the party that signed the request');
    const deny = (reasons: string[]): never => {
      throw withAudit(new CmError('EXPORT_DENIED', `export of ${uri} denied: ${reasons.join('; ')}`, { details: { reasons } }), { actor: requester, action: 'GetExportDataKey', target: uri, decision: 'deny', reasons });
    };
    const key = await ctx.repo.getDataKey(uri);
    if (!key) deny(['no data key is registered for this resource']);
    const { owners, missing } = await originalOwners(dataUuid, (u) => ctx.repo.getDataset(u));
    if (missing.length) deny([`lineage is incomplete (unknown: ${missing.join(', ')})`]);
    const d = await checkExportVotes(body.data_export_certificate, { owners, requestPartyId: requester, resourceUri: uri, now: ctx.now() });
    if (!d.allowed) deny(d.reasons);
    ctx.observer?.keysReleased('GetExportDataKey', 1);
    return { response: { data_key: { resource_uri: uri, data_key_b64: key!.key.toString('base64') } }, audit: [{ actor: requester, action: 'GetExportDataKey', target: uri, decision: 'allow' }] };
  },
});
