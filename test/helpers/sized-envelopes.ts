// Valid JWE envelopes of an exact byte size, for body-limit tests at limit-1,
// limit and so on: flattened JSON padded with trailing whitespace (valid JSON),
// compact tuned through the plaintext length and a padding header parameter.
import { randomBytes } from 'node:crypto';
import { sealRequest, type Jwk, type Sealed } from '../../ext-proc/core/envelope-client.ts';

const b64len = (n: number) => Math.floor(n / 3) * 4 + [0, 2, 3][n % 3]!;

export interface SizedEnvelope extends Sealed {
  plaintext: Buffer;
}

/** An RSA-OAEP-256 + A128GCM envelope to `jwk` whose body is exactly `size` bytes. */
export function envelopeOfSize(size: number, form: 'flattened' | 'compact', jwk: Jwk): SizedEnvelope {
  if (form === 'flattened') {
    const probe = sealRequest('', { jwk, alg: 'RSA-OAEP-256', form });
    const room = size - probe.body.length;
    if (room < 0) throw new Error(`no flattened envelope is as small as ${size} bytes`);
    // Each 3 plaintext bytes add 4 base64url characters; trailing spaces make up the rest.
    const plaintext = Buffer.from(randomBytes(Math.floor((room * 3) / 4)).map((b) => 0x61 + (b % 26)));
    const s = sealRequest(plaintext, { jwk, alg: 'RSA-OAEP-256', form });
    if (s.body.length > size) throw new Error('sized envelope overshot');
    return { ...s, body: s.body + ' '.repeat(size - s.body.length), plaintext };
  }
  // compact: protected.ek.iv.ct.tag; the header carries {"alg","enc","kid","p":<pad>}.
  const headerLen = (pad: number) => JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A128GCM', kid: jwk.kid, p: 'x'.repeat(pad) }).length;
  const fixed = b64len(256) + b64len(12) + b64len(16) + 4;
  for (let pad = 0; pad < 8; pad++) {
    const left = size - fixed - b64len(headerLen(pad));
    let pt = Math.max(0, Math.floor((left * 3) / 4) - 2);
    while (b64len(pt) < left) pt++;
    if (b64len(pt) !== left) continue;
    const plaintext = Buffer.from(randomBytes(pt).map((b) => 0x61 + (b % 26)));
    const s = sealRequest(plaintext, { jwk, alg: 'RSA-OAEP-256', form, header: { p: 'x'.repeat(pad) } });
    if (s.body.length !== size) throw new Error(`compact envelope is ${s.body.length} bytes, not ${size}`);
    return { ...s, plaintext };
  }
  throw new Error(`no compact envelope of exactly ${size} bytes`);
}
