// node:crypto KeyObject -> WebCrypto CryptoKey, for @peculiar/x509 (Node 20 has
// no KeyObject.toCryptoKey).
import { webcrypto, type KeyObject } from 'node:crypto';

export type CryptoKey = webcrypto.CryptoKey;

export async function ed25519SigningKey(privateKey: KeyObject): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'Ed25519' }, false, ['sign']));
}

export async function ed25519PublicKey(publicKey: KeyObject): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), { name: 'Ed25519' }, true, ['verify']));
}
