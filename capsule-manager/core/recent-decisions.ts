// The last decisions (allow/deny) of the capsule manager, for operators: a
// fixed-size ring fed by the audit log as records become durable, read by
// GET /api/v1/audit/recent. Only names and decisions are kept, as in the
// audit log: never key material, keys, certificates or request bodies.
import type { AuditRecord } from '../storage/audit-log.ts';

export const RECENT_DECISIONS_CAPACITY = 200;
const MAX_REASON = 1024;

/** One entry of `{ "records": [...] }` (the contract the control plane's status page polls). */
export interface DecisionRecord {
  time: string;
  action: string;
  initiator_party_id: string;
  resource_uri?: string;
  decision: 'allow' | 'deny';
  reason?: string;
  /** The CM replica that decided (with the replicated audit stream). */
  replica?: string;
}

/** allow/deny records become decisions; owner changes ("ok") and failures ("error") are not decisions. */
export function decisionOf(rec: AuditRecord, replica?: string): DecisionRecord | undefined {
  if (rec.decision !== 'allow' && rec.decision !== 'deny') return undefined;
  const reason = rec.reasons?.length ? rec.reasons.join('; ') : undefined;
  return {
    time: rec.ts,
    action: rec.action,
    // key releases name the initiator; other decisions are the signer's own
    initiator_party_id: rec.initiator ?? rec.actor,
    ...(rec.target ? { resource_uri: rec.target } : {}),
    decision: rec.decision,
    ...(reason ? { reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason } : {}),
    ...(replica ? { replica } : {}),
  };
}

export class RecentDecisions {
  private readonly ring: DecisionRecord[] = [];
  private next = 0;
  constructor(readonly capacity = RECENT_DECISIONS_CAPACITY) {}

  /** Feeds an audit record (of `replica`, when known); non-decisions are ignored. */
  add(rec: AuditRecord, replica?: string): void {
    const d = decisionOf(rec, replica);
    if (!d) return;
    if (this.ring.length < this.capacity) this.ring.push(d);
    else this.ring[this.next] = d;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first, at most `limit`. */
  list(limit: number): DecisionRecord[] {
    const out: DecisionRecord[] = [];
    const n = this.ring.length;
    for (let i = 1; i <= Math.min(limit, n); i++) out.push(this.ring[(this.next - i + n) % n]!);
    return out;
  }
}
