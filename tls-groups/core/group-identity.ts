// The names a group certificate carries in its SAN (pure).
//
//   member leaf:   URI aenv://group/<groupId>/party/<partyId>
//                  URI aenv://tee/<platform>?debug=0|1&insecure=0|1&tcb=<status>[&m.<name>=<hex>...]
//   shared asset:  URI aenv://group/<groupId>/shared
//
// Envoy matches peers with a URI-prefix SAN matcher on "aenv://group/<groupId>/"
// and ext-authz reads the party id from the first URI.
import type { Claims } from '../../platforms/index.ts';
import { TlsGroupError } from '../errors.ts';

export const PARTY_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
const GROUP_ID_RE = /^[0-9a-f]{32}$/;

export function groupUriPrefix(groupId: string): string {
  return `aenv://group/${groupId}/`;
}

export function memberUri(groupId: string, partyId: string): string {
  if (!PARTY_ID_RE.test(partyId)) throw new TlsGroupError('BAD_PARTY_ID', `party id must match ${PARTY_ID_RE.source}`);
  return `${groupUriPrefix(groupId)}party/${partyId}`;
}

export function sharedUri(groupId: string): string {
  return `${groupUriPrefix(groupId)}shared`;
}

/** Parses a member or shared URI; undefined when it is neither. */
export function parseGroupUri(uri: string): { groupId: string; partyId?: string; shared: boolean } | undefined {
  const m = /^aenv:\/\/group\/([^/]+)\/(?:party\/([^/?#]+)|(shared))$/.exec(uri);
  if (!m || !GROUP_ID_RE.test(m[1]!)) return undefined;
  if (m[3]) return { groupId: m[1]!, shared: true };
  if (!PARTY_ID_RE.test(m[2]!)) return undefined;
  return { groupId: m[1]!, partyId: m[2]!, shared: false };
}

/** The platform claims as a URI; only well-formed names/values are kept (they come from a verified report). */
export function claimsUri(claims: Claims): string {
  const q = new URLSearchParams();
  q.set('debug', claims.debug ? '1' : '0');
  q.set('insecure', claims.insecure ? '1' : '0');
  q.set('tcb', claims.tcb.status);
  for (const [name, value] of Object.entries(claims.measurements).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (/^[a-z0-9_]{1,32}$/.test(name) && /^[0-9a-f]{1,256}$/.test(value)) q.set(`m.${name}`, value);
  }
  return `aenv://tee/${encodeURIComponent(claims.platform)}?${q.toString()}`;
}

export interface UriClaims {
  platform: string;
  debug: boolean;
  insecure: boolean;
  tcb: string;
  measurements: Record<string, string>;
}

export function parseClaimsUri(uri: string): UriClaims | undefined {
  const m = /^aenv:\/\/tee\/([a-z0-9-]+)\?(.*)$/.exec(uri);
  if (!m) return undefined;
  const q = new URLSearchParams(m[2]);
  const measurements: Record<string, string> = {};
  for (const [k, v] of q) if (k.startsWith('m.')) measurements[k.slice(2)] = v;
  return { platform: m[1]!, debug: q.get('debug') === '1', insecure: q.get('insecure') === '1', tcb: q.get('tcb') ?? 'Unknown', measurements };
}
