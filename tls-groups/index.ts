// Group TLS derivation (interface 6): called by the capsule manager's
// GetTlsAsset handler after it has verified the app's evidence and checked that
// the data key's rules grant op "interact" to the party. Pure: no I/O.
// Design and threat notes: docs/groups.md.
import { groupCa } from './core/group-ca.ts';
import { deriveGroupKey, type GroupContext } from './core/group-key.ts';
import { issueLeaf, type LeafRequest } from './core/leaf.ts';
import { issueSharedAsset } from './core/shared-asset.ts';

/** Which group (data key, scope, data_uuid, epoch) and what the leaf certifies (the app's own key, verified claims, evidence digest). */
export interface IssueGroupTlsAssetInput extends GroupContext, LeafRequest {}

export interface GroupTlsAsset {
  leafCertPem: string;
  caCertPem: string;
  notAfter: Date;
  groupId: string;
}

export async function issueGroupTlsAsset(input: IssueGroupTlsAssetInput): Promise<GroupTlsAsset> {
  const g = deriveGroupKey(input);
  const ca = await groupCa(g);
  const leaf = await issueLeaf(ca, input);
  return { leafCertPem: leaf.certPem, caCertPem: ca.certPem, notAfter: leaf.notAfter, groupId: g.groupId };
}

export async function deriveSharedGroupAsset(input: { dataKey: Buffer; scope: string; dataUuid: string; epoch?: number }): Promise<{ certPem: string; privateKeyPem: string; caCertPem: string; groupId: string }> {
  const g = deriveGroupKey(input);
  const ca = await groupCa(g);
  const shared = await issueSharedAsset(ca, g.key);
  return { ...shared, caCertPem: ca.certPem, groupId: g.groupId };
}

/** The group's CA and id alone (e.g. for a verifier's trust bundle). */
export async function deriveGroupCa(input: { dataKey: Buffer; scope: string; dataUuid: string; epoch?: number }): Promise<{ caCertPem: string; groupId: string }> {
  const g = deriveGroupKey(input);
  return { caCertPem: (await groupCa(g)).certPem, groupId: g.groupId };
}

export { GROUP_OP } from './core/group-key.ts';
export { groupUriPrefix, memberUri, parseGroupUri, parseClaimsUri } from './core/group-identity.ts';
export { EVIDENCE_EXTENSION_OID, AENV_OID_ARC, decodeEvidenceExtension, findEvidenceExtension, encodeOid } from './core/evidence-extension.ts';
export { verifyGroupMember, trustedGroupCas, type GroupMember, type TrustedGroupCa } from './core/verify-member.ts';
export { TlsGroupError } from './errors.ts';
export { DEFAULT_RENEWAL, renewalDelayMs, retryDelayMs, type RenewalPolicy } from './core/renewal-schedule.ts';
