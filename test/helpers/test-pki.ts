// A throwaway ECDSA P-256 PKI for TLS tests: a CA and leaves it signs, written
// as PEM files (keys 0600) into a directory.
import { randomBytes, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x509 } from '../../foundation/x509.ts';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface TestCa {
  name: string;
  certFile: string;
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface TestLeaf {
  certFile: string;
  keyFile: string;
}

const validity = () => ({ notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 24 * 3600_000) });
const serial = () => '01' + randomBytes(8).toString('hex');

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function writeKey(path: string, key: CryptoKey): Promise<void> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  writeFileSync(path, x509.PemConverter.encode(der, 'PRIVATE KEY'), { mode: 0o600 });
}

export async function createTestCa(dir: string, name: string): Promise<TestCa> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    ...validity(),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const certFile = join(dir, `${name}.ca.pem`);
  writeFileSync(certFile, cert.toString('pem'));
  return { name, certFile, cert, keys };
}

/** A leaf for a server on 127.0.0.1 (`server`) or a client (`client`), with optional URI SANs. */
export async function issueTestLeaf(ca: TestCa, dir: string, cn: string, usage: 'server' | 'client', opts: { uris?: string[] } = {}): Promise<TestLeaf> {
  const keys = await keyPair();
  const eku = usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${cn}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([eku]),
      ...(usage === 'server' || opts.uris?.length
        ? [
            new x509.SubjectAlternativeNameExtension([
              ...(usage === 'server' ? [{ type: 'ip' as const, value: '127.0.0.1' }, { type: 'dns' as const, value: 'localhost' }] : []),
              ...(opts.uris ?? []).map((value) => ({ type: 'url' as const, value })),
            ]),
          ]
        : []),
    ],
  });
  const certFile = join(dir, `${cn}.pem`);
  const keyFile = join(dir, `${cn}.key`);
  writeFileSync(certFile, cert.toString('pem'));
  await writeKey(keyFile, keys.privateKey);
  return { certFile, keyFile };
}
