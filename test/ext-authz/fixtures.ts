// Group members and a JWT issuer for the ext-authz tests.
import { generateKeyPair, exportJWK, SignJWT, type JWK } from 'jose';
import { issueGroupTlsAsset, deriveGroupCa } from '../../tls-groups/index.ts';
import { DATA_KEY, SIM_CLAIMS, EVIDENCE_DIGEST, p256 } from '../tls-groups/fixtures.ts';

export const GROUP = { dataKey: DATA_KEY, scope: 'default', dataUuid: 'data-1' };

export interface Member {
  partyId: string;
  certPem: string;
  keyPem: string;
  groupId: string;
  caPem: string;
}

export async function member(partyId: string, opts: { dataKey?: Buffer; validitySeconds?: number; now?: Date } = {}): Promise<Member> {
  const k = p256();
  const a = await issueGroupTlsAsset({
    ...GROUP,
    ...(opts.dataKey ? { dataKey: opts.dataKey } : {}),
    partyId,
    subjectPublicKeyPem: k.publicKeyPem,
    claims: SIM_CLAIMS,
    evidenceDigest: EVIDENCE_DIGEST,
    ...(opts.validitySeconds ? { validitySeconds: opts.validitySeconds } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { partyId, certPem: a.leafCertPem, keyPem: k.privateKeyPem, groupId: a.groupId, caPem: a.caCertPem };
}

export async function groupTrust(): Promise<{ groupId: string; caCertPem: string }> {
  const g = await deriveGroupCa(GROUP);
  return { groupId: g.groupId, caCertPem: g.caCertPem };
}

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'aenv-online';

export async function jwtIssuer(): Promise<{ jwks: { keys: JWK[] }; sign(claims?: Record<string, unknown>, o?: { iss?: string; aud?: string; expSeconds?: number }): Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  return {
    jwks: { keys: [jwk] },
    sign: (claims = {}, o = {}) =>
      new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(o.iss ?? ISSUER)
        .setAudience(o.aud ?? AUDIENCE)
        .setSubject('user-1')
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expSeconds ?? 300))
        .sign(privateKey),
  };
}
