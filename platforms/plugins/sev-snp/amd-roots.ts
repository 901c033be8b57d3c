// Pinned AMD Root Keys (ARK), by SHA-256 of their DER, and AMD's bundled
// ASK/ASVK intermediates (roots/amd-certs.ts, provenance in roots/PROVENANCE.md).
// An ARK that comes with the evidence (cert table / aux) is trusted only when
// its fingerprint is pinned here or configured (VerifierOptions.amdArkFingerprints
// / amdArkPems). When the evidence carries only the VCEK/VLEK, the verifier
// completes VEK -> ASK/ASVK -> ARK with the bundled certificates.
import { X509Certificate } from 'node:crypto';
import { fingerprint } from '../../core/cert-chain.ts';
import { PlatformError } from '../../errors.ts';
import { AMD_BUNDLED_CERTS, type AmdBundledCert } from './roots/amd-certs.ts';

export const AMD_ARK_SHA256: Record<string, string> = {
  Milan: '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd',
  Genoa: '4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1',
  Turin: '1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a',
};

export const VCEK_OIDS = {
  bootloader: '1.3.6.1.4.1.3704.1.3.1',
  tee: '1.3.6.1.4.1.3704.1.3.2',
  snp: '1.3.6.1.4.1.3704.1.3.3',
  microcode: '1.3.6.1.4.1.3704.1.3.8',
  fmc: '1.3.6.1.4.1.3704.1.3.9',
  hwid: '1.3.6.1.4.1.3704.1.4',
} as const;

export interface AmdBundled extends Omit<AmdBundledCert, 'pem'> {
  cert: X509Certificate;
}

let bundled: AmdBundled[] | undefined;

/**
 * The bundled AMD certificates, parsed once. Each must have the fingerprint its
 * table lists, and each ARK must be the pinned one: an edited table is refused
 * rather than trusted.
 */
export function amdBundledCerts(): readonly AmdBundled[] {
  if (bundled) return bundled;
  const out: AmdBundled[] = [];
  for (const b of AMD_BUNDLED_CERTS) {
    const cert = new X509Certificate(b.pem);
    const fp = fingerprint(cert);
    if (fp !== b.sha256 || (b.role === 'ark' && fp !== AMD_ARK_SHA256[b.product])) {
      throw new PlatformError('TRUST_ANCHOR_MISSING', `bundled AMD ${b.role.toUpperCase()} of ${b.product} has SHA-256 ${fp.slice(0, 16)}.., not its pinned value`);
    }
    out.push({ product: b.product, role: b.role, sha256: b.sha256, cert });
  }
  bundled = out;
  return out;
}
