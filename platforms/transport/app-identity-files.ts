// The app identity kept in files: `<name>.key.pem` (0600) and `cert.pem` in a
// 0700 directory, created on first use. Inside a real TEE the directory is on the
// encrypted disk of the confidential VM; the keys never leave it or reach a log.
import { createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agreementKeysOfCert, APP_KEY_NAMES, buildAppIdentity, generateAppKey, makeAppKey, selfSignedAppCert, type AppIdentity, type AppKey, type AppKeyName } from '../core/app-identity.ts';

function writePrivate(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function namesAgreementKeys(certPem: string, keys: Record<AppKeyName, AppKey>): boolean {
  try {
    const named = agreementKeysOfCert(certPem);
    return named.x25519?.equals(keys.x25519.publicKey) === true && named.p256?.equals(keys.p256.publicKey) === true;
  } catch {
    return false;
  }
}

/**
 * Loads the identity from `dir`, generating missing keys on first use
 * (files `<name>.key.pem` 0600, `cert.pem`). Inside a real TEE `dir` is on the
 * encrypted disk of the confidential VM; the keys never leave it.
 */
export async function loadOrCreateAppIdentity(dir: string, commonName = 'aenv-app'): Promise<AppIdentity> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = {} as Record<AppKeyName, AppKey>;
  let changed = false;
  for (const n of APP_KEY_NAMES) {
    const p = join(dir, `${n}.key.pem`);
    if (existsSync(p)) {
      keys[n] = makeAppKey(n, createPrivateKey(readFileSync(p)));
    } else {
      const priv = generateAppKey(n);
      writePrivate(p, priv.export({ type: 'pkcs8', format: 'pem' }) as string);
      keys[n] = makeAppKey(n, priv);
      changed = true;
    }
  }
  const certPath = join(dir, 'cert.pem');
  let certPem = !changed && existsSync(certPath) ? readFileSync(certPath, 'utf8') : undefined;
  // A certificate from before the key set extension (or naming other keys) is issued anew.
  if (certPem !== undefined && !namesAgreementKeys(certPem, keys)) certPem = undefined;
  if (certPem === undefined) {
    certPem = await selfSignedAppCert(keys.rsa, commonName, [keys.x25519.publicKey, keys.p256.publicKey]);
    writeFileSync(certPath, certPem, { mode: 0o644 });
  }
  return buildAppIdentity(keys, certPem);
}
