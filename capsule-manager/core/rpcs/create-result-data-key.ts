// CreateResultDataKey: a TEE task registers its result's key; the result's
// policy is derived from its ancestors' (lineage) and owned by the CM.
import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { CreateResultDataKeyRequest_Body } from '../../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { CmError } from '../../errors.ts';
import { verifyAppReport } from '../attestation.ts';
import { deriveResultPolicy } from '../lineage.ts';
import { parseResourceUri, type Policy } from '../model.ts';
import { dataKeyBytes, scopeField } from '../rpc/fields.ts';
import { defineRpc } from '../rpc/rpc.ts';

const OptString = Type.Optional(Type.Union([Type.String(), Type.Null()]));

export const createResultDataKey = defineRpc({
  name: 'CreateResultDataKey',
  auth: 'signer',
  schema: Type.Object({
    body: Type.Object({
      resource_uri: Type.String({ minLength: 1 }),
      scope: OptString,
      data_key_b64: Type.String({ minLength: 1 }),
      ancestor_uuids: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
      owner_id: OptString,
    }),
    attestation_report: Type.Optional(Type.Unknown()),
  }),
  auditErrors: 'target',
  async handle(ctx, req, { signer }) {
    const b = req.body;
    const uri = b.resource_uri;
    const { dataUuid } = parseResourceUri(uri);
    const scope = scopeField(b.scope);
    const key = dataKeyBytes(b.data_key_b64, 'data_key_b64');
    const ancestors = [...new Set(b.ancestor_uuids ?? [])];
    if (ancestors.length === 0 || ancestors.length > 256) throw new CmError('INVALID_REQUEST', 'ancestor_uuids must list 1..256 datasets');
    // A result comes from a TEE: its evidence binds SHA-256(serialized body).
    const report = req.attestation_report as { json_report?: unknown } | undefined;
    if (report && report.json_report) {
      const serialized = CreateResultDataKeyRequest_Body.encode(CreateResultDataKeyRequest_Body.fromJSON(b)).finish();
      await verifyAppReport(report, createHash('sha256').update(serialized).digest(), ctx.verifier, ctx.appraisal);
    } else if (ctx.requireAttestation) {
      throw new CmError('ATTESTATION_FAILED', 'attestation_report is required');
    }
    const ancestorPolicies: Policy[] = [];
    for (const a of ancestors) {
      if (!(await ctx.repo.getDataset(a))) throw new CmError('NOT_FOUND', `ancestor ${a} is unknown`);
      ancestorPolicies.push((await ctx.repo.getPolicy(scope, a))?.policy ?? { data_uuid: a, rules: [] });
    }
    const owner = b.owner_id || signer.partyId;
    if (await ctx.repo.getDataset(dataUuid)) throw new CmError('ALREADY_EXISTS', `data ${dataUuid} already exists`);
    if (await ctx.repo.hasDataKey(uri)) throw new CmError('ALREADY_EXISTS', `a data key for ${uri} already exists`);
    await ctx.repo.createResultDataset(dataUuid, { owner_party_id: owner, ancestor_uuids: ancestors, scope });
    await ctx.repo.createDataKey(uri, owner, key);
    // Derived policies belong to the capsule manager: no party can loosen them.
    await ctx.repo.modifyPolicy(scope, dataUuid, () => ({ owner_party_id: ctx.identity.partyId, policy: deriveResultPolicy(dataUuid, ancestorPolicies) }));
    return { response: {}, audit: [{ actor: signer.partyId, action: 'CreateResultDataKey', target: `${uri} <- ${ancestors.join(',')}`, decision: 'ok' }] };
  },
});
