// The decision core: request attributes in, Decision out. No transport here.
//
// Order of checks for the selected rule: peer certificate (group membership:
// signed by a trusted group CA, group URI, validity) -> revocation -> policy
// (group, party, shared form) -> JWT. Any failure denies; no rule denies.
import { createHash, type X509Certificate } from 'node:crypto';
import { TlsGroupError, verifyGroupMember, type GroupMember } from '../../tls-groups/index.ts';
import { trustedGroupCas } from '../../tls-groups/index.ts';
import { DecisionCache } from './decision-cache.ts';
import { allow, deny, type Decision, type Identity } from './decision.ts';
import { ExtAuthzError } from '../errors.ts';
import type { JwtVerifier } from '../transport/jwt-verifier.ts';
import { compilePolicy, pathOf, type CompiledPolicy } from './policy.ts';
import type { PolicyRule } from '../config.ts';
import { RevocationList } from './revocation-list.ts';

export interface AuthzInput {
  path: string;
  method: string;
  /** PEM of the downstream peer certificate (already URL-decoded); empty when none. */
  peerCertPem?: string;
  /** The Authorization header value, if any. */
  authorization?: string;
}

export interface AuthorizerOptions {
  rules: PolicyRule[];
  groups: Array<{ groupId: string; caCertPem: string }>;
  revocations?: RevocationList;
  jwt?: JwtVerifier;
  cache?: { maxEntries: number; ttlMs: number };
  now?: () => number;
}

export class Authorizer {
  private policy: CompiledPolicy;
  private trust: Map<string, X509Certificate>;
  private readonly trustPems = new Map<string, string>();
  readonly revocations: RevocationList;
  readonly cache: DecisionCache<{ decision: Decision }>;
  private readonly now: () => number;

  constructor(private readonly opts: AuthorizerOptions) {
    this.policy = compilePolicy(opts.rules);
    if (opts.rules.some((r) => r.jwt) && !opts.jwt) throw new ExtAuthzError('BAD_POLICY', 'a rule requires jwt but no jwt section is configured');
    this.trust = this.buildTrust(opts.groups);
    this.revocations = opts.revocations ?? new RevocationList();
    this.cache = new DecisionCache(opts.cache?.maxEntries ?? 10_000, opts.cache?.ttlMs ?? 2_000);
    this.now = opts.now ?? Date.now;
    this.revocations.onChange(() => this.cache.clear());
  }

  private buildTrust(groups: Array<{ groupId: string; caCertPem: string }>): Map<string, X509Certificate> {
    try {
      const m = trustedGroupCas(groups);
      this.trustPems.clear();
      for (const g of groups) this.trustPems.set(g.groupId, g.caCertPem);
      return m;
    } catch (cause) {
      throw new ExtAuthzError('BAD_GROUP_CA', (cause as Error).message, { cause });
    }
  }

  /** Adds or replaces a trusted group CA (all-or-nothing; clears the cache). */
  setGroup(groupId: string, caCertPem: string): void {
    if (!/^[0-9a-f]{32}$/.test(groupId)) throw new ExtAuthzError('BAD_GROUP_CA', 'groupId must be 32 lowercase hex characters');
    const next = [...this.trustPems].filter(([id]) => id !== groupId).map(([id, pem]) => ({ groupId: id, caCertPem: pem }));
    next.push({ groupId, caCertPem });
    this.trust = this.buildTrust(next);
    this.cache.clear();
  }

  removeGroup(groupId: string): boolean {
    if (!this.trustPems.has(groupId)) return false;
    this.trust = this.buildTrust([...this.trustPems].filter(([id]) => id !== groupId).map(([id, pem]) => ({ groupId: id, caCertPem: pem })));
    this.cache.clear();
    return true;
  }

  groups(): string[] {
    return [...this.trustPems.keys()].sort();
  }

  setRules(rules: PolicyRule[]): void {
    if (rules.some((r) => r.jwt) && !this.opts.jwt) throw new ExtAuthzError('BAD_POLICY', 'a rule requires jwt but no jwt section is configured');
    this.policy = compilePolicy(rules);
    this.cache.clear();
  }

  async check(input: AuthzInput): Promise<{ decision: Decision; cached: boolean }> {
    const now = this.now();
    const path = pathOf(input.path);
    const key = createHash('sha256').update(input.method).update('\0').update(path).update('\0').update(input.peerCertPem ?? '').update('\0').update(input.authorization ?? '').digest('base64');
    const hit = this.cache.get(key, now);
    if (hit) return { decision: hit.decision, cached: true };
    const { decision, notAfter } = await this.decide(input, path, now);
    this.cache.set(key, { decision }, now, notAfter);
    return { decision, cached: false };
  }

  private async decide(input: AuthzInput, path: string, now: number): Promise<{ decision: Decision; notAfter?: number }> {
    const rule = this.policy.select(path, input.method);
    if (!rule) return { decision: deny('NO_RULE', `no policy rule allows ${input.method} ${path}`) };
    if (rule.public) return { decision: allow(rule.name, {}) };
    const identity: Identity = {};
    let notAfter: number | undefined;

    if (rule.peers) {
      if (!input.peerCertPem) return { decision: deny('NO_PEER_CERT', `rule "${rule.name}" requires a group member certificate and none was presented`, rule.name) };
      let m: GroupMember;
      try {
        m = verifyGroupMember(input.peerCertPem, this.trust, new Date(now));
      } catch (e) {
        if (TlsGroupError.is(e)) {
          const code = e.code === 'CERT_EXPIRED' || e.code === 'CERT_NOT_YET_VALID' ? 'CERT_EXPIRED' : e.code === 'BAD_CERTIFICATE' ? 'BAD_PEER_CERT' : 'NOT_A_MEMBER';
          return { decision: deny(code, e.message, rule.name) };
        }
        throw e;
      }
      const revoked = this.revocations.isRevoked(m);
      if (revoked) return { decision: deny('REVOKED', revoked, rule.name) };
      if (!rule.peers.groups.includes('*') && !rule.peers.groups.includes(m.groupId)) {
        return { decision: deny('GROUP_NOT_ALLOWED', `group ${m.groupId} may not call rule "${rule.name}"`, rule.name) };
      }
      if (m.shared) {
        if (!rule.peers.allowShared) return { decision: deny('SHARED_NOT_ALLOWED', `rule "${rule.name}" requires a per-party certificate, not the shared group certificate`, rule.name) };
      } else if (!rule.peers.parties.includes('*') && !rule.peers.parties.includes(m.partyId!)) {
        return { decision: deny('PARTY_NOT_ALLOWED', `party ${m.partyId} may not call rule "${rule.name}"`, rule.name) };
      }
      identity.groupId = m.groupId;
      if (m.partyId) identity.partyId = m.partyId;
      if (m.claims) identity.platform = m.claims.platform;
      notAfter = m.notAfter.getTime();
    }

    if (rule.jwt) {
      const auth = input.authorization ?? '';
      const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)\s*$/i.exec(auth);
      if (!match) return { decision: deny('JWT_MISSING', `rule "${rule.name}" requires a bearer token`, rule.name) };
      const r = await this.opts.jwt!(match[1]!);
      if (!r.ok) return { decision: deny('JWT_INVALID', `bearer token rejected: ${r.reason}`, rule.name) };
      if (r.sub) identity.jwtSub = r.sub;
      if (r.exp !== undefined) notAfter = Math.min(notAfter ?? Number.POSITIVE_INFINITY, r.exp * 1000);
    }
    return { decision: allow(rule.name, identity), notAfter };
  }
}
