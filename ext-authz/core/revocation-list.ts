// Revoked parties and certificates, changed at runtime (admin API, or the
// control plane when a rule no longer grants "interact"). Every change bumps
// the version and notifies listeners (the decision cache is cleared), so a
// revocation takes effect on the very next request.
import { ExtAuthzError } from '../errors.ts';

/** "<partyId>" (in every group) or "<groupId>/<partyId>". */
const PARTY_RE = /^(?:[0-9a-f]{32}\/)?[A-Za-z0-9._-]{1,128}$/;
const FP_RE = /^[0-9a-f]{64}$/;

export interface RevocationSnapshot {
  version: number;
  parties: string[];
  fingerprints: string[];
}

export class RevocationList {
  private readonly parties = new Set<string>();
  private readonly fingerprints = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private v = 0;

  constructor(init: { parties?: string[]; fingerprints?: string[] } = {}) {
    this.apply({ addParties: init.parties ?? [], addFingerprints: init.fingerprints ?? [] });
  }

  get version(): number {
    return this.v;
  }

  /** Validates everything first, then applies all or nothing. */
  apply(change: { addParties?: string[]; removeParties?: string[]; addFingerprints?: string[]; removeFingerprints?: string[] }): RevocationSnapshot {
    const bad = [
      ...[...(change.addParties ?? []), ...(change.removeParties ?? [])].filter((p) => !PARTY_RE.test(p)).map((p) => `party "${p}"`),
      ...[...(change.addFingerprints ?? []), ...(change.removeFingerprints ?? [])].filter((f) => !FP_RE.test(f)).map((f) => `fingerprint "${f}"`),
    ];
    if (bad.length) throw new ExtAuthzError('BAD_REVOCATION', `invalid revocation entries: ${bad.join(', ')} (party: "<partyId>" or "<groupId>/<partyId>"; fingerprint: 64 lowercase hex)`);
    for (const p of change.addParties ?? []) this.parties.add(p);
    for (const p of change.removeParties ?? []) this.parties.delete(p);
    for (const f of change.addFingerprints ?? []) this.fingerprints.add(f);
    for (const f of change.removeFingerprints ?? []) this.fingerprints.delete(f);
    this.v++;
    for (const l of this.listeners) l();
    return this.snapshot();
  }

  isRevoked(m: { groupId: string; partyId?: string; fingerprint: string }): string | undefined {
    if (this.fingerprints.has(m.fingerprint)) return `certificate ${m.fingerprint.slice(0, 16)}… is revoked`;
    if (m.partyId && (this.parties.has(m.partyId) || this.parties.has(`${m.groupId}/${m.partyId}`))) return `party ${m.partyId} is revoked`;
    return undefined;
  }

  onChange(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  snapshot(): RevocationSnapshot {
    return { version: this.v, parties: [...this.parties].sort(), fingerprints: [...this.fingerprints].sort() };
  }
}
