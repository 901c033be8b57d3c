// From rule changes to immediate revocation: the data owner's side watches the
// policy of a group's data key and, when a party loses its "interact" grant,
// revokes `<groupId>/<partyId>` in ext-authz at once (and un-revokes on a
// re-grant). The leaf itself dies at its notAfter because the CM refuses the
// renewal; this closes the window until then.
//
// The owner can run this because she holds the data key, so she can compute the
// group id herself. Collaborators are injected (list the policy; apply a
// revocation change), so this file wires no transport.
import { GROUP_OP, deriveGroupKey } from './group-key.ts';

export interface PolicyView {
  rules: Array<{ grantee_party_ids: string[]; op_constraints: Array<{ op_name: string }> }>;
}

/** Parties a policy grants op "interact" (or "*"); constraints are not evaluated (over-approximation: never revokes too much). */
export function interactGrantees(policy: PolicyView | undefined): Set<string> {
  const out = new Set<string>();
  for (const r of policy?.rules ?? []) {
    if (r.op_constraints.some((o) => o.op_name === GROUP_OP || o.op_name === '*')) for (const p of r.grantee_party_ids) out.add(p);
  }
  return out;
}

export interface RevocationFeedOptions {
  dataKey: Buffer;
  scope: string;
  dataUuid: string;
  listPolicy(): Promise<PolicyView | undefined>;
  apply(change: { addParties: string[]; removeParties: string[] }): Promise<unknown>;
  intervalMs?: number;
  onError?(e: Error): void;
}

export class RevocationFeed {
  private readonly groupId: string;
  private known?: Set<string>;
  private timer?: NodeJS.Timeout;
  private readonly revoked = new Set<string>();

  constructor(private readonly o: RevocationFeedOptions) {
    this.groupId = deriveGroupKey(o).groupId;
  }

  /** One poll: returns what changed. */
  async sync(): Promise<{ revoked: string[]; restored: string[] }> {
    const now = interactGrantees(await this.o.listPolicy());
    const prev = this.known ?? now;
    const revoked = [...prev].filter((p) => !now.has(p)).map((p) => `${this.groupId}/${p}`);
    const restored = [...now].map((p) => `${this.groupId}/${p}`).filter((p) => this.revoked.has(p));
    if (revoked.length || restored.length) {
      await this.o.apply({ addParties: revoked, removeParties: restored });
      for (const p of revoked) this.revoked.add(p);
      for (const p of restored) this.revoked.delete(p);
    }
    this.known = now;
    return { revoked, restored };
  }

  start(): void {
    const tick = () => {
      this.sync().then(
        () => schedule(),
        (e: Error) => {
          this.o.onError?.(e);
          schedule();
        },
      );
    };
    const schedule = () => {
      if (this.timer === undefined) return;
      this.timer = setTimeout(tick, this.o.intervalMs ?? 1000);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
