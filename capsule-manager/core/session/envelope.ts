// The messages of a release session: flattened JWEs (RFC 7516) with "dir" key
// management and A256GCM under the session key, protected header
// {alg, enc, kid: session id, seq, typ}. The header is the AAD, so the session,
// the sequence number and the direction (typ) are authenticated with the body.
// Pure; cross-checked against jose in test/capsule-manager/core/session-envelope.test.ts.
import { gcmDecrypt, gcmEncrypt } from '../../../foundation/jwe-crypto.ts';
import { CmError } from '../../errors.ts';
import { b64u, fromB64u, protectedHeader, type JweJson } from '../envelope.ts';
import { SESSION_ID } from './table.ts';

export type SessionTyp = 'aenv-release-request' | 'aenv-release-response';

export interface SessionHeader {
  kid: string;
  seq: number;
}

const ALG = 'dir';
const ENC = 'A256GCM';
const HEADER_KEYS = new Set(['alg', 'enc', 'kid', 'seq', 'typ']);

export function sealSessionMessage(key: Buffer, h: SessionHeader, typ: SessionTyp, payload: unknown): JweJson {
  const protectedB64 = b64u(JSON.stringify({ alg: ALG, enc: ENC, kid: h.kid, seq: h.seq, typ }));
  const out = gcmEncrypt(ENC, key, Buffer.from(JSON.stringify(payload), 'utf8'), Buffer.from(protectedB64, 'ascii'));
  return { protected: protectedB64, encrypted_key: '', iv: b64u(out.iv), ciphertext: b64u(out.ciphertext), tag: b64u(out.tag), aad: '' };
}

/**
 * The session and seq a message names, before any key is looked up; BAD_ENVELOPE
 * unless it is exactly a session message of `typ` (no other header member, no
 * encrypted key, no JWE aad).
 */
export function sessionHeaderOf(jwe: JweJson | undefined, typ: SessionTyp): SessionHeader {
  const bad = (why: string): never => {
    throw new CmError('BAD_ENVELOPE', `not a release-session message: ${why}`);
  };
  if (!jwe || typeof jwe !== 'object' || typeof jwe.protected !== 'string' || typeof jwe.ciphertext !== 'string') return bad('message must be a flattened JWE');
  const h = protectedHeader(jwe.protected);
  if (!h) return bad('the protected header is not a base64url JSON object');
  if (h.alg !== ALG || h.enc !== ENC) return bad(`alg must be ${ALG} and enc ${ENC}`);
  if (h.typ !== typ) return bad(`typ must be ${typ}`);
  if (Object.keys(h).some((k) => !HEADER_KEYS.has(k))) return bad(`the protected header may hold only ${[...HEADER_KEYS].join(', ')}`);
  if (typeof h.kid !== 'string' || !SESSION_ID.test(h.kid)) return bad('kid must be a session id');
  if (typeof h.seq !== 'number' || !Number.isSafeInteger(h.seq) || h.seq < 1) return bad('seq must be a positive integer');
  if ((jwe.encrypted_key ?? '') !== '' || (jwe.aad ?? '') !== '') return bad('a dir JWE has no encrypted_key and a session message no aad');
  return { kid: h.kid, seq: h.seq };
}

/** Decrypts a message whose header sessionHeaderOf accepted; one BAD_ENVELOPE for any failure. */
export function openSessionMessage(jwe: JweJson, key: Buffer): unknown {
  const iv = fromB64u(jwe.iv);
  const ciphertext = fromB64u(jwe.ciphertext);
  const tag = fromB64u(jwe.tag);
  const refuse = (): never => {
    throw new CmError('BAD_ENVELOPE', 'cannot open the release-session message (wrong session key or corrupted JWE)');
  };
  if (!iv || !ciphertext || !tag || iv.length !== 12 || tag.length !== 16) return refuse();
  let plain: Buffer;
  try {
    plain = gcmDecrypt(ENC, key, iv, ciphertext, tag, Buffer.from(jwe.protected, 'ascii'));
  } catch {
    return refuse();
  }
  try {
    return JSON.parse(plain.toString('utf8')) as unknown;
  } catch {
    return refuse();
  } finally {
    plain.fill(0);
  }
}
