// The capsule manager's envelope is synchronous node:crypto (capsule-manager/core/envelope.ts,
// foundation/jwe-crypto.ts); jose is the reference. Every path both ways: what jose
// seals we open, what we seal jose opens, for every alg/enc and signature alg we
// accept, with random payloads; and what jose refuses (tampering, wrong key, small
// RSA keys, crit, zip, a wrong key type for the alg) we refuse too.
import { createPublicKey, generateKeyPairSync, sign as nodeSign, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import t from 'tap';
import { FlattenedEncrypt, FlattenedSign, flattenedDecrypt, flattenedVerify } from 'jose';
import fc from 'fast-check';
import { decryptJwe, encryptJwe, signJws, verifyJws, type JweJson } from '../../../capsule-manager/core/envelope.ts';
import { generatePartyKeys } from '../../../capsule-manager/core/party-keys.ts';
import { x509 } from '../../../foundation/x509.ts';

const caKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RS = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const IMPORT_PUB: Record<string, webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | { name: string }> = { rsa: RS, ec: { name: 'ECDSA', namedCurve: 'P-256' }, ed25519: { name: 'Ed25519' } };

/** A certificate for `pair`'s public key (signed by a test CA: x5c[0] only carries the key here). */
async function issueCert(pair: { publicKey: KeyObject }, cn: string): Promise<string> {
  const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
  const publicKey = await webcrypto.subtle.importKey('spki', spki, IMPORT_PUB[pair.publicKey.asymmetricKeyType!]!, true, ['verify']);
  const signingKey = await webcrypto.subtle.importKey('pkcs8', caKeys.privateKey.export({ type: 'pkcs8', format: 'der' }), RS, false, ['sign']);
  const cert = await x509.X509CertificateGenerator.create({ serialNumber: '01', subject: `CN=${cn}`, issuer: 'CN=test ca', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3600_000), publicKey, signingKey, signingAlgorithm: RS });
  return cert.toString('pem');
}

const cm = await generatePartyKeys('cm');
const cmPub = createPublicKey(cm.privateKey);
const runs = { numRuns: 25 };

t.test('JWE: jose seals, we open; we seal, jose opens (RSA-OAEP-256 and RSA-OAEP, A128GCM and A256GCM)', async (t) => {
  for (const alg of ['RSA-OAEP-256', 'RSA-OAEP']) {
    for (const enc of ['A128GCM', 'A256GCM']) {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.option(fc.uint8Array({ minLength: 1, maxLength: 32 }), { nil: undefined }), async (payload, aad) => {
          let enc1 = new FlattenedEncrypt(payload).setProtectedHeader({ alg, enc });
          if (aad) enc1 = enc1.setAdditionalAuthenticatedData(aad);
          const j = await enc1.encrypt(cmPub);
          const opened = await decryptJwe({ protected: j.protected!, encrypted_key: j.encrypted_key!, iv: j.iv!, ciphertext: j.ciphertext, tag: j.tag!, aad: j.aad }, cm.privateKey);
          if (!Buffer.from(opened).equals(Buffer.from(payload))) throw new Error('jose -> ours differs');
          const ours = await encryptJwe(payload, cmPub, alg, enc);
          const back = await flattenedDecrypt({ protected: ours.protected, encrypted_key: ours.encrypted_key, iv: ours.iv, ciphertext: ours.ciphertext, tag: ours.tag }, cm.privateKey);
          if (!Buffer.from(back.plaintext).equals(Buffer.from(payload))) throw new Error('ours -> jose differs');
          if (back.protectedHeader?.alg !== alg || back.protectedHeader.enc !== enc) throw new Error('header differs');
        }),
        runs,
      );
      t.pass(`${alg} ${enc} both ways`);
    }
  }
});

t.test('JWE: what jose refuses we refuse, with one error for all', async (t) => {
  const good = await encryptJwe(Buffer.from('{"a":1}'), cmPub);
  const flip = (s: string): string => (s.at(-2) === 'A' ? `${s.slice(0, -2)}B${s.at(-1)}` : `${s.slice(0, -2)}A${s.at(-1)}`);
  const variants: Array<[string, JweJson, KeyObject]> = [
    ['tampered ciphertext', { ...good, ciphertext: flip(good.ciphertext) }, cm.privateKey],
    ['tampered tag', { ...good, tag: flip(good.tag) }, cm.privateKey],
    ['tampered iv', { ...good, iv: flip(good.iv) }, cm.privateKey],
    ['tampered encrypted_key', { ...good, encrypted_key: flip(good.encrypted_key) }, cm.privateKey],
    ['aad added after sealing', { ...good, aad: 'AAAA' }, cm.privateKey],
    ['wrong recipient key', good, (await generatePartyKeys('other')).privateKey],
    ['protected header swapped to A256GCM', { ...good, protected: Buffer.from('{"alg":"RSA-OAEP-256","enc":"A256GCM"}').toString('base64url') }, cm.privateKey],
  ];
  for (const [what, jwe, key] of variants) {
    const joseRefuses = await flattenedDecrypt({ protected: jwe.protected, encrypted_key: jwe.encrypted_key, iv: jwe.iv, ciphertext: jwe.ciphertext, tag: jwe.tag, ...(jwe.aad ? { aad: jwe.aad } : {}) }, key).then(() => false, () => true);
    t.ok(joseRefuses, `jose refuses: ${what}`);
    await t.rejects(decryptJwe(jwe, key), { code: 'BAD_ENVELOPE', message: 'cannot decrypt the envelope (wrong recipient key or corrupted JWE)' }, `we refuse: ${what}`);
  }
  // Header parameters jose would refuse or we do not support: zip, crit, RSA1_5, dir, a small RSA key.
  const seal = async (header: Record<string, unknown>) => {
    const j = await new FlattenedEncrypt(Buffer.from('{}')).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A128GCM', ...header }).encrypt(cmPub).catch(() => undefined);
    return j && ({ protected: j.protected!, encrypted_key: j.encrypted_key!, iv: j.iv!, ciphertext: j.ciphertext, tag: j.tag! } as JweJson);
  };
  const forged = (header: Record<string, unknown>): JweJson => ({ ...good, protected: Buffer.from(JSON.stringify(header)).toString('base64url') });
  for (const [what, jwe] of [
    ['zip', forged({ alg: 'RSA-OAEP-256', enc: 'A128GCM', zip: 'DEF' })],
    ['crit', (await seal({ crit: ['exp'], exp: 1 })) ?? forged({ alg: 'RSA-OAEP-256', enc: 'A128GCM', crit: ['exp'] })],
    ['RSA1_5', forged({ alg: 'RSA1_5', enc: 'A128GCM' })],
    ['A192GCM', forged({ alg: 'RSA-OAEP-256', enc: 'A192GCM' })],
    ['header not an object', { ...good, protected: Buffer.from('[1]').toString('base64url') }],
    ['iv of 16 bytes', { ...good, iv: Buffer.alloc(16).toString('base64url') }],
    ['padding in base64url', { ...good, iv: `${good.iv}=` }],
  ] as Array<[string, JweJson]>) {
    await t.rejects(decryptJwe(jwe, cm.privateKey), { code: 'BAD_ENVELOPE' }, `refused: ${what}`);
  }
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  await t.rejects(encryptJwe(Buffer.from('x'), small.publicKey), { code: 'UNSUPPORTED' }, 'no JWE to an RSA-1024 key (jose refuses it too)');
  await t.rejects(new FlattenedEncrypt(Buffer.from('x')).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A128GCM' }).encrypt(small.publicKey), 'jose refuses RSA-1024');
});

t.test('JWS: RS256, PS256, ES256 and EdDSA with x5c, both ways', async (t) => {
  const now = new Date();
  for (const [alg, kind] of [['RS256', 'rsa'], ['PS256', 'rsa'], ['ES256', 'ec'], ['EdDSA', 'ed25519']] as const) {
    const pair = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
    const certPem = await issueCert(pair, `${alg} signer`);
    const x5c = [Buffer.from(new X509Certificate(certPem).raw).toString('base64')];
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (payload) => {
        // jose signs (any of the four), we verify.
        const j = await new FlattenedSign(payload).setProtectedHeader({ alg, x5c }).sign(pair.privateKey);
        const out = await verifyJws({ protected: j.protected!, payload: j.payload, signature: j.signature }, now);
        if (!Buffer.from(out.payload).equals(Buffer.from(payload))) throw new Error('payload differs');
        // A flipped signature byte is refused by both.
        const sig = Buffer.from(j.signature, 'base64url');
        sig[0] ^= 1;
        const bad = { protected: j.protected!, payload: j.payload, signature: sig.toString('base64url') };
        if (await verifyJws(bad, now).then(() => true, () => false)) throw new Error('tampered signature accepted');
        if (await flattenedVerify(bad, pair.publicKey).then(() => true, () => false)) throw new Error('jose accepted the tampered signature');
      }),
      runs,
    );
    // We sign (the signer's key type picks RS256 / ES256 / EdDSA), jose verifies.
    if (alg !== 'PS256') {
      const ours = await signJws(Buffer.from('{"x":1}'), { privateKey: pair.privateKey, certChainPem: [certPem] });
      const back = await flattenedVerify(ours, pair.publicKey);
      t.equal(back.protectedHeader?.alg, alg, `we sign ${alg}`);
      t.equal(Buffer.from(back.payload).toString(), '{"x":1}', `jose verifies our ${alg}`);
    }
    t.pass(`${alg}: jose -> ours, tampering refused by both`);
  }
});

t.test('JWS: an alg that does not fit the x5c key, alg none, crit and an RSA-1024 signer are refused', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certPem = await issueCert(rsa, 'rsa signer');
  const ours = await signJws(Buffer.from('{}'), { privateKey: rsa.privateKey, certChainPem: [certPem] });
  const header = JSON.parse(Buffer.from(ours.protected, 'base64url').toString()) as Record<string, unknown>;
  const withHeader = (h: Record<string, unknown>) => ({ ...ours, protected: Buffer.from(JSON.stringify(h)).toString('base64url') });
  for (const [what, h] of [
    ['alg ES256 on an RSA key', { ...header, alg: 'ES256' }],
    ['alg none', { ...header, alg: 'none' }],
    ['alg HS256', { ...header, alg: 'HS256' }],
    ['crit b64', { ...header, crit: ['b64'], b64: false }],
  ] as Array<[string, Record<string, unknown>]>) {
    await t.rejects(verifyJws(withHeader(h)), { code: 'BAD_SIGNATURE' }, what);
  }
  // An RSA-1024 leaf: jose refuses to verify it, and so do we.
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const smallCert = await issueCert(small, 'small');
  await t.rejects(signJws(Buffer.from('{}'), { privateKey: small.privateKey, certChainPem: [smallCert] }), { code: 'UNSUPPORTED' }, 'we do not sign with RSA-1024');
  const x5c = [Buffer.from(new X509Certificate(smallCert).raw).toString('base64')];
  const p = Buffer.from(JSON.stringify({ alg: 'RS256', x5c })).toString('base64url');
  const sig = nodeSign('sha256', Buffer.from(`${p}.e30`), small.privateKey).toString('base64url');
  await t.rejects(verifyJws({ protected: p, payload: 'e30', signature: sig }), { code: 'BAD_SIGNATURE' }, 'an RSA-1024 signature is refused');
  await t.rejects(flattenedVerify({ protected: p, payload: 'e30', signature: sig }, small.publicKey), 'jose refuses it too');
});

t.test('JWE ECDH-ES to the agreement keys (X25519, P-256): jose seals, we open; we seal, jose opens', async (t) => {
  const x = generateKeyPairSync('x25519');
  const p = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = { rsa: cm.privateKey, x25519: x.privateKey, p256: p.privateKey };
  for (const [name, pair] of [['X25519', x], ['P-256', p]] as const) {
    for (const enc of ['A128GCM', 'A256GCM']) {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 1024 }), fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined }), async (payload, apu) => {
          const j = await new FlattenedEncrypt(payload).setProtectedHeader({ alg: 'ECDH-ES', enc }).setKeyManagementParameters(apu ? { apu } : {}).encrypt(pair.publicKey);
          const opened = await decryptJwe({ protected: j.protected!, encrypted_key: j.encrypted_key ?? '', iv: j.iv!, ciphertext: j.ciphertext, tag: j.tag! }, keys);
          if (!Buffer.from(opened).equals(Buffer.from(payload))) throw new Error('jose -> ours differs');
          const ours = await encryptJwe(payload, pair.publicKey, 'ECDH-ES', enc);
          const back = await flattenedDecrypt({ protected: ours.protected, iv: ours.iv, ciphertext: ours.ciphertext, tag: ours.tag }, pair.privateKey);
          if (!Buffer.from(back.plaintext).equals(Buffer.from(payload))) throw new Error('ours -> jose differs');
        }),
        runs,
      );
      t.pass(`ECDH-ES ${name} ${enc} both ways`);
    }
  }
  const good = await encryptJwe(Buffer.from('{"a":1}'), x.publicKey, 'ECDH-ES');
  const h = JSON.parse(Buffer.from(good.protected, 'base64url').toString()) as Record<string, unknown>;
  const withHeader = (over: Record<string, unknown>): JweJson => ({ ...good, protected: Buffer.from(JSON.stringify({ ...h, ...over })).toString('base64url') });
  for (const [what, jwe, k] of [
    ['an RSA-only recipient (no agreement key)', good, cm.privateKey],
    ['a P-256 epk when only X25519 is offered', withHeader({ epk: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' } }), { rsa: cm.privateKey, x25519: x.privateKey }],
    ['an epk off the curve', withHeader({ epk: { kty: 'EC', crv: 'P-256', x: Buffer.alloc(32, 1).toString('base64url'), y: Buffer.alloc(32, 2).toString('base64url') } }), keys],
    ['an epk with a private part', withHeader({ epk: { ...(h.epk as object), d: 'AAAA' } }), keys],
    ['an all-zero (small order) X25519 epk', withHeader({ epk: { kty: 'OKP', crv: 'X25519', x: Buffer.alloc(32).toString('base64url') } }), keys],
    ['an encrypted_key beside ECDH-ES', { ...good, encrypted_key: 'AAAA' }, keys],
    ['another recipient X25519 key', good, { rsa: cm.privateKey, x25519: generateKeyPairSync('x25519').privateKey }],
    ['apu changed after sealing', withHeader({ apu: 'AAAA' }), keys],
  ] as Array<[string, JweJson, KeyObject | { rsa: KeyObject; x25519?: KeyObject; p256?: KeyObject }]>) {
    await t.rejects(decryptJwe(jwe, k), { code: 'BAD_ENVELOPE' }, `refused: ${what}`);
  }
});
