// Bearer JWT verification for the online ingress (jose): issuer, audience,
// allowed algorithms, a JWKS from a file (read once) or a URL (jose caches and
// refreshes it). No I/O besides the JWKS fetch.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTPayload, type JSONWebKeySet } from 'jose';
import { ExtAuthzError } from '../errors.ts';

export interface JwtSettings {
  issuer: string;
  audience: string;
  jwksFile?: string;
  jwksUrl?: string;
  /** A JWKS object directly (tests, programmatic use). */
  jwks?: JSONWebKeySet;
  algorithms: string[];
  clockToleranceSeconds: number;
}

export type JwtResult = { ok: true; sub?: string; exp?: number; payload: JWTPayload } | { ok: false; reason: string };

export type JwtVerifier = (token: string) => Promise<JwtResult>;

export function createJwtVerifier(s: JwtSettings): JwtVerifier {
  let keySet: Parameters<typeof jwtVerify>[1];
  if (s.jwks) keySet = createLocalJWKSet(s.jwks);
  else if (s.jwksFile) {
    try {
      keySet = createLocalJWKSet(JSON.parse(readFileSync(s.jwksFile, 'utf8')) as JSONWebKeySet);
    } catch (cause) {
      throw new ExtAuthzError('JWKS_UNAVAILABLE', `cannot load JWKS file ${s.jwksFile}`, { cause });
    }
  } else if (s.jwksUrl) keySet = createRemoteJWKSet(new URL(s.jwksUrl), { timeoutDuration: 2000, cooldownDuration: 10_000 });
  else throw new ExtAuthzError('JWKS_UNAVAILABLE', 'jwt: one of jwks, jwksFile or jwksUrl is required');
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keySet as never, {
        issuer: s.issuer,
        audience: s.audience,
        algorithms: s.algorithms,
        clockTolerance: s.clockToleranceSeconds,
        requiredClaims: ['exp'],
      });
      return { ok: true, sub: payload.sub, exp: payload.exp, payload };
    } catch (e) {
      // jose's messages say which check failed ("unexpected \"iss\" claim value", "\"exp\" claim timestamp check failed")
      if (e instanceof joseErrors.JOSEError) return { ok: false, reason: `${e.code}: ${e.message}` };
      return { ok: false, reason: 'token verification failed' };
    }
  };
}
