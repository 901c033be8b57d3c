// OpenReleaseSession: an attested app proves itself once, in Trustflow's
// envelope (JWE of a JWS by the attested cert's key), with evidence bound to
// SHA-256(cert "." "aenv-release-session-v1." nonce) and a fresh signed nonce;
// it gets a session id and a 256-bit key, sealed to the cert's key, so only the
// holder of that key (inside the attested TEE) can use the session. What the
// session carries is what a per-request release would have verified: the
// claims, the party, the cert; the policy is still evaluated on every release.
import { X509Certificate } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { CmError } from '../../errors.ts';
import { b64u, certBinding } from '../envelope.ts';
import { defineRpc } from '../rpc/rpc.ts';
import { attestApp, checkFreshness } from '../rpc/release.ts';

/** The report-data binding of an OpenReleaseSession request's evidence. */
export function sessionBinding(certPem: string, nonce: string): Buffer {
  return certBinding(certPem, `aenv-release-session-v1.${nonce}`);
}

export const OpenReleaseSessionSchema = Type.Object({
  cert: Type.String({ minLength: 1 }),
  attestation_report: Type.Optional(Type.Unknown()),
  /** Always required: the nonce is also what the evidence binds. */
  freshness: Type.Object({ request_time: Type.String({ minLength: 1 }), nonce: Type.String({ minLength: 1 }) }),
  ttl_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
});

const ACTION = 'OpenReleaseSession';

export const openReleaseSession = defineRpc({
  name: ACTION,
  auth: 'attested-app',
  schema: OpenReleaseSessionSchema,
  auditErrors: 'own',
  async handle(ctx, body, { signer }) {
    const sessions = ctx.sessions;
    if (!sessions) throw new CmError('UNSUPPORTED', 'release sessions are disabled on this capsule manager (sessions.enabled)');
    const about = { target: 'release session' };
    const fresh = await checkFreshness(ctx, body.freshness, ACTION, signer.partyId, about);
    const app = await attestApp(ctx, body.attestation_report, () => sessionBinding(body.cert, body.freshness.nonce), ACTION, signer.partyId, about);
    await fresh.claim();
    const certNotAfter = Date.parse(new X509Certificate(body.cert).validTo);
    const s = sessions.open({ partyId: signer.partyId, claims: app?.claims, ttlSeconds: body.ttl_seconds, certNotAfter });
    return {
      response: { session_id: s.id, session_key: b64u(s.key), expires_at: new Date(s.expiresAt).toISOString(), max_releases: s.maxReleases },
      audit: [{ actor: signer.partyId, action: ACTION, target: 'release session', decision: 'allow', session: s.id }],
    };
  },
});
