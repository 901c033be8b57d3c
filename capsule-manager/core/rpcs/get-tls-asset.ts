// GetTlsAsset: an attested app asks for its communication group's TLS asset:
// a leaf certifying its own key (its private key never leaves the app), or
// Trustflow's shared asset. The rules must grant op "interact" on the group's data key.
import { deriveSharedGroupAsset, GROUP_OP, issueGroupTlsAsset } from '../../../tls-groups/index.ts';
import { CmError } from '../../errors.ts';
import { parseJsonObject, scopeOf } from '../model.ts';
import { partyIdOfKey } from '../party-id.ts';
import { defineRpc, withAudit } from '../rpc/rpc.ts';
import { checkRelease, KeyReleaseSchema, resourceRequestOf, targetOfRequest } from '../rpc/release.ts';

/** Bounds of a certified group leaf's lifetime asked for in global_attrs.validity_seconds. */
export const TLS_VALIDITY_MIN_SECONDS = 60;
export const TLS_VALIDITY_MAX_SECONDS = 24 * 3600;

/** global_attrs.validity_seconds: an integer in [60 s, 24 h], only for a certified leaf. */
function validityOf(v: unknown, leaf: boolean): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!leaf) throw new CmError('INVALID_REQUEST', 'global_attrs.validity_seconds applies to a certified leaf only (set subject_public_key_pem)');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < TLS_VALIDITY_MIN_SECONDS || v > TLS_VALIDITY_MAX_SECONDS) {
    throw new CmError('INVALID_REQUEST', `global_attrs.validity_seconds must be an integer from ${TLS_VALIDITY_MIN_SECONDS} to ${TLS_VALIDITY_MAX_SECONDS}`);
  }
  return v;
}

export const getTlsAsset = defineRpc({
  name: 'GetTlsAsset',
  auth: 'attested-app',
  schema: KeyReleaseSchema,
  auditErrors: 'own',
  async handle(ctx, body, { signer }) {
    const rr = resourceRequestOf(body.resource_request);
    const target = targetOfRequest(rr);
    // The leaf names initiator_party_id as its party: the certified identity
    // must be the signer's own (the party id of the JWS x5c leaf key, which
    // is also the attested `cert`), never a party the signer merely claims to
    // act for. Checked before anything else so no evidence is even looked at.
    const signerLeafParty = partyIdOfKey(signer.leafKey);
    if (rr.initiator_party_id !== signerLeafParty) {
      const reason = `GetTlsAsset: initiator_party_id ${rr.initiator_party_id} is not the signer's party id ${signerLeafParty}; a group TLS asset certifies the signer only`;
      throw withAudit(new CmError('INITIATOR_MISMATCH', reason), { actor: signer.partyId, initiator: rr.initiator_party_id, action: 'GetTlsAsset', target, decision: 'deny', reasons: [reason] });
    }
    if (rr.op_name !== GROUP_OP) throw new CmError('INVALID_REQUEST', `GetTlsAsset needs op_name "${GROUP_OP}"`);
    if (rr.resources.length !== 1) throw new CmError('INVALID_REQUEST', 'GetTlsAsset takes exactly one resource (the group data key)');
    const globalAttrs = parseJsonObject(rr.global_attrs, 'global_attrs');
    const subject = globalAttrs.subject_public_key_pem;
    const wantsLeaf = typeof subject === 'string' && subject.length > 0;
    const validitySeconds = validityOf(globalAttrs.validity_seconds, wantsLeaf);
    const { app, granted, audit, claim } = await checkRelease(ctx, body, rr, 'GetTlsAsset', signer.partyId);
    // Before the nonce is recorded: a refused request consumes nothing.
    if (wantsLeaf && !app) throw new CmError('ATTESTATION_FAILED', 'a certified group leaf needs verified evidence');
    await claim();
    const g = granted[0]!;
    const scope = scopeOf(rr.scope);
    if (wantsLeaf && app) {
      // The app's own key is certified; its private key never leaves the app.
      const a = await issueGroupTlsAsset({
        dataKey: g.key,
        scope,
        dataUuid: g.dataUuid,
        partyId: rr.initiator_party_id,
        subjectPublicKeyPem: subject,
        claims: app.claims,
        evidenceDigest: app.evidenceDigest,
        ...(validitySeconds !== undefined ? { validitySeconds } : {}),
        now: ctx.now(),
      });
      ctx.observer?.tlsAssetIssued('leaf');
      return { response: { tls_asset: { cert: a.leafCertPem, private_key: '', ca_cert: a.caCertPem } }, audit: [audit] };
    }
    // Trustflow's shared form: the group key itself, sealed to the attested cert by the response JWE.
    const s = await deriveSharedGroupAsset({ dataKey: g.key, scope, dataUuid: g.dataUuid });
    ctx.observer?.tlsAssetIssued('shared');
    return { response: { tls_asset: { cert: s.certPem, private_key: s.privateKeyPem, ca_cert: s.caCertPem } }, audit: [audit] };
  },
});
