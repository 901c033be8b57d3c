// The sim signing key: P-256, created on first use in a configurable directory
// (0700) as sim-signing.key.pem (0600). Its public key is what verifiers must be
// told to trust (trustedSimKeys); ra-proxy publishes it at /.well-known/sim-key.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PlatformError } from '../../errors.ts';

export const SIM_KEY_FILE = 'sim-signing.key.pem';

export interface SimSigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
  keyId: Buffer;
}

export function simKeyId(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
}

function wrap(privateKey: KeyObject): SimSigningKey {
  const a = privateKey.asymmetricKeyDetails;
  if (privateKey.asymmetricKeyType !== 'ec' || a?.namedCurve !== 'prime256v1') throw new PlatformError('INVALID_INPUT', 'sim signing key must be an EC P-256 key');
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string, keyId: simKeyId(publicKey) };
}

export function loadOrCreateSimKey(dir: string): SimSigningKey {
  const path = join(dir, SIM_KEY_FILE);
  if (existsSync(path)) {
    try {
      return wrap(createPrivateKey(readFileSync(path)));
    } catch (cause) {
      if (cause instanceof PlatformError) throw cause;
      throw new PlatformError('INVALID_INPUT', `sim signing key ${path} is unreadable`, { cause });
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return wrap(privateKey);
}

export function ephemeralSimKey(): SimSigningKey {
  return wrap(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
}
