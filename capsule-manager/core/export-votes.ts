// Export approval: a result may leave the TEE world (GetExportDataKey) only when
// every original owner, found through lineage, signed an APPROVE vote for
// exactly "tee/download,<resource_uri>" and this requester.
//
// data_export_certificate = JSON {"votes": ["<compact JWS>", ...]}; each JWS is
// signed by the voter (header x5c, the root key's party id is the voter) over
//   {"type":"TEE_DOWNLOAD","request_party_id":"...","approved_action":"tee/download,<uri>",
//    "action":"APPROVE"|"REJECT","exp":<unix seconds, optional>}
import { CmError } from '../errors.ts';
import { signJws, verifyJws, type Signer } from './envelope.ts';

export interface Vote {
  type: 'TEE_DOWNLOAD';
  request_party_id: string;
  approved_action: string;
  action: 'APPROVE' | 'REJECT';
  exp?: number;
}

export const exportAction = (resourceUri: string): string => `tee/download,${resourceUri}`;

/** Signs one vote as a compact JWS (what an owner's CLI produces). */
export async function signVote(vote: Vote, signer: Signer): Promise<string> {
  const jws = await signJws(Buffer.from(JSON.stringify(vote), 'utf8'), signer);
  return `${jws.protected}.${jws.payload}.${jws.signature}`;
}

export interface ExportDecision {
  allowed: boolean;
  reasons: string[];
}

/** Checks the certificate against the owners; never throws for a deny, only for malformed input. */
export async function checkExportVotes(certificate: string, opts: { owners: string[]; requestPartyId: string; resourceUri: string; now?: Date }): Promise<ExportDecision> {
  let parsed: { votes?: unknown };
  try {
    parsed = JSON.parse(certificate) as { votes?: unknown };
  } catch {
    throw new CmError('INVALID_REQUEST', 'data_export_certificate is not JSON');
  }
  if (!parsed || !Array.isArray(parsed.votes) || parsed.votes.length > 256 || parsed.votes.some((v) => typeof v !== 'string'))
    throw new CmError('INVALID_REQUEST', 'data_export_certificate.votes must be a list of compact JWS strings');
  const now = opts.now ?? new Date();
  const approved = new Set<string>();
  const reasons: string[] = [];
  for (const [i, v] of (parsed.votes as string[]).entries()) {
    const parts = v.split('.');
    if (parts.length !== 3) {
      reasons.push(`vote ${i}: not a compact JWS`);
      continue;
    }
    let payload: Vote;
    let voter: string;
    try {
      const out = await verifyJws({ protected: parts[0], payload: parts[1], signature: parts[2] }, now);
      payload = JSON.parse(Buffer.from(out.payload).toString('utf8')) as Vote;
      voter = out.signer.partyId;
    } catch (e) {
      reasons.push(`vote ${i}: ${(e as Error).message}`);
      continue;
    }
    if (!opts.owners.includes(voter)) continue; // votes of non-owners do not count
    // A signed payload that is JSON but not an object (null, a list...) is no vote: `null.type` was a TypeError.
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      reasons.push(`vote of ${voter}: not a vote object`);
      continue;
    }
    if (payload.type !== 'TEE_DOWNLOAD' || payload.approved_action !== exportAction(opts.resourceUri) || payload.request_party_id !== opts.requestPartyId) {
      reasons.push(`vote of ${voter}: not for this export (action, resource or requester differ)`);
      continue;
    }
    if (typeof payload.exp === 'number' && payload.exp * 1000 < now.getTime()) {
      reasons.push(`vote of ${voter}: expired`);
      continue;
    }
    if (payload.action === 'REJECT') return { allowed: false, reasons: [`owner ${voter} rejected the export`] };
    if (payload.action === 'APPROVE') approved.add(voter);
  }
  const missing = opts.owners.filter((o) => !approved.has(o));
  if (missing.length) return { allowed: false, reasons: [...reasons, `no approval from owner(s): ${missing.join(', ')}`] };
  return { allowed: true, reasons: [] };
}
