// Recent capsule-manager decisions shown on the status page. Pure: the
// response contract of the CM's `GET /api/v1/audit/recent?limit=N` and the view
// kept by the poller. The records are display-only: they are bounded (count,
// string length) and every field is checked, since they come from another
// service and end up on an HTML page.
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ControlPlaneError } from '../errors.ts';

const MAX_TEXT = 512;

export const CmDecisionRecord = Type.Object({
  time: Type.String({ minLength: 1, maxLength: 64 }),
  action: Type.String({ minLength: 1 }),
  initiator_party_id: Type.String(),
  resource_uri: Type.Optional(Type.String()),
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  reason: Type.Optional(Type.String()),
  /** The CM replica that decided (CMs with the replicated audit stream). */
  replica: Type.Optional(Type.String()),
});
export type CmDecisionRecord = Static<typeof CmDecisionRecord>;

/** Extra fields are tolerated (the CM may add some); only known ones are kept. */
export const CmDecisionsResponse = Type.Object({ records: Type.Array(CmDecisionRecord) });

export interface CmDecisionsView {
  /** The URL polled (without credentials). */
  source: string;
  /** When the records below were fetched; null until the first success. */
  fetchedAt: string | null;
  /** When the last attempt ran (success or not). */
  attemptedAt: string | null;
  /** Why the last attempt failed; absent after a success. The records are then the last good ones. */
  error?: string;
  records: CmDecisionRecord[];
}

const clip = (s: string): string => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);

/** Checks a response body against the contract; returns at most `limit` records, newest first as sent. */
export function parseCmDecisions(body: unknown, limit: number): CmDecisionRecord[] {
  if (!Value.Check(CmDecisionsResponse, body)) {
    const first = Value.Errors(CmDecisionsResponse, body).First();
    throw new ControlPlaneError('BAD_UPSTREAM_RESPONSE', `capsule manager decisions: response does not match the contract${first ? ` at ${first.path || '/'}: ${first.message}` : ''}`);
  }
  return body.records.slice(0, limit).map((r, i) => {
    if (Number.isNaN(Date.parse(r.time))) throw new ControlPlaneError('BAD_UPSTREAM_RESPONSE', `capsule manager decisions: records[${i}].time is not an ISO-8601 time`);
    return {
      time: r.time,
      action: clip(r.action),
      initiator_party_id: clip(r.initiator_party_id),
      ...(r.resource_uri !== undefined ? { resource_uri: clip(r.resource_uri) } : {}),
      decision: r.decision,
      ...(r.reason !== undefined ? { reason: clip(r.reason) } : {}),
      ...(r.replica !== undefined ? { replica: clip(r.replica) } : {}),
    };
  });
}

/** The URL to poll: `limit` set as a query parameter. */
export function decisionsRequestUrl(base: string, limit: number): URL {
  const u = new URL(base);
  u.searchParams.set('limit', String(limit));
  return u;
}

/** The URL as shown on the status page: never userinfo. */
export function displaySource(base: string): string {
  const u = new URL(base);
  u.username = '';
  u.password = '';
  return u.toString();
}
