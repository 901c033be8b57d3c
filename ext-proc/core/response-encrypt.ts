// Encrypts the app's response for the client that sent the envelope: same CEK as
// the request (the client already holds it), a fresh 12-byte IV, in the form of
// the request (compact -> compact, JSON -> flattened JSON).
//   rfc7516:   protected {"alg":"dir","enc":<enc>} (+ "kid":<session id> in session
//              mode, + "cty":<the app's content type>), AAD = ASCII(protected): any
//              JOSE library decrypts it as `dir`.
//   trustflow: Trustflow's exact response: protected {"alg":"RSA-OAEP-256","enc":...},
//              encrypted_key "", aad "", GCM AAD empty.
import type { CompatMode, Decrypted } from './jwe-decrypt.ts';
import { gcmEncrypt } from '../../foundation/jwe-crypto.ts';
import { base64urlJson, toCompact, toFlattened, toTrustflowResponse } from './jwe-envelope.ts';

export interface EncryptedResponse {
  body: Buffer;
  contentType: string;
}

const headerCache = new Map<string, string>();
function protectedB64(header: Record<string, string>): string {
  const json = JSON.stringify(header);
  let b = headerCache.get(json);
  if (b === undefined) {
    b = Buffer.from(json, 'utf8').toString('base64url');
    if (headerCache.size < 64) headerCache.set(json, b); // session kids are not cached
  }
  return b;
}

export function encryptResponse(req: Decrypted, plaintext: Buffer, compat: CompatMode, requestContentType: string, appContentType?: string): EncryptedResponse {
  if (compat === 'trustflow' && req.sessionId === undefined) {
    const p = protectedB64({ alg: req.alg, enc: req.enc });
    const out = gcmEncrypt(req.enc, req.cek, plaintext, Buffer.alloc(0));
    return { body: base64urlJson(toTrustflowResponse({ protectedB64: p, ...out })), contentType: 'application/json' };
  }
  const header: Record<string, string> = req.sessionId === undefined ? { alg: 'dir', enc: req.enc } : { alg: 'dir', enc: req.enc, kid: req.sessionId };
  if (appContentType) header.cty = appContentType;
  const p = protectedB64(header);
  const out = gcmEncrypt(req.enc, req.cek, plaintext, Buffer.from(p, 'ascii'));
  if (req.form === 'compact') return { body: Buffer.from(toCompact({ protectedB64: p, ...out }), 'latin1'), contentType: 'application/jose' };
  return {
    body: base64urlJson(toFlattened({ protectedB64: p, ...out })),
    contentType: requestContentType === 'application/jose+json' ? 'application/jose+json' : 'application/json',
  };
}
