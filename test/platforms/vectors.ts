// Helpers for the real attestation vectors in test/fixtures/attestation (public
// evidence from real TEE hardware; sources and licences in its PROVENANCE.md).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';

export const VECTORS = join(PROJECT_ROOT, 'test', 'fixtures', 'attestation');

export function vector(name: string): Buffer {
  return readFileSync(join(VECTORS, name));
}

export function vectorText(name: string): string {
  return readFileSync(join(VECTORS, name), 'utf8');
}

/** A time inside every certificate's validity: latest notBefore + 1 hour. */
export function nowWithin(certs: X509Certificate[]): Date {
  return new Date(Math.max(...certs.map((c) => new Date(c.validFrom).getTime())) + 3600_000);
}

/** A time after the earliest notAfter. */
export function nowExpired(certs: X509Certificate[]): Date {
  return new Date(Math.min(...certs.map((c) => new Date(c.validTo).getTime())) + 86400_000);
}

export function pemCerts(text: string): X509Certificate[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

export function flip(b: Uint8Array, at: number): Uint8Array {
  const c = Buffer.from(b);
  c[at]! ^= 0x01;
  return new Uint8Array(c);
}
