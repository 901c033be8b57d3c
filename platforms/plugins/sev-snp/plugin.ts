// sev-snp: AMD SEV-SNP attestation reports, verified VCEK/VLEK -> ASK/ASVK -> ARK.
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { createSnpAttester } from './attester.ts';
import { createSnpVerifier } from './verifier.ts';

export interface SnpVerifierOptions {
  /** AMD ARK certificates (PEM, self-signed). Defaults to none: evidence must ship ASK+ARK and an ARK fingerprint must be pinned below. */
  amdArkPems?: string[];
  /** SHA-256 fingerprints (hex) of accepted ARKs when ARKs come with the evidence. */
  amdArkFingerprints?: string[];
  /**
   * The VCEK for a chip and TCB when the evidence carries none (hosts without an
   * extended cert table): e.g. a cache of AMD KDS
   * /vcek/v1/{product}/{chipId}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=.. responses (DER).
   */
  snpVcekProvider?: (q: { product?: string; chipId: string; reportedTcb: Record<string, number> }) => Promise<Uint8Array | undefined>;
  /** ASK/ASVK certificates (PEM) available to the verifier, e.g. from a KDS cache. */
  amdIntermediatePems?: string[];
}

export interface SnpAttesterConfig {
  /** VMPL written to configfs privlevel. */
  snpPrivLevel?: number;
}

export const snpPlugin = definePlatform<'sev-snp', SnpVerifierOptions, SnpAttesterConfig>({
  name: 'sev-snp',
  ual: { teePlatform: 'SEV_SNP' },
  attesterOptions: Type.Object({ snpPrivLevel: Type.Optional(Type.Integer({ minimum: 0, maximum: 3 })) }),
  createVerifier: (o) => createSnpVerifier(o),
  createAttester: (o) => createSnpAttester(o.root, o.snpPrivLevel),
});
