// sev-snp: AMD SEV-SNP attestation reports, verified VCEK/VLEK -> ASK/ASVK -> ARK.
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { createSnpAttester } from './attester.ts';
import { createSnpVerifier, SNP_AUX_KEYS } from './verifier.ts';

export interface SnpVerifierOptions {
  /** Further AMD ARK certificates (PEM, self-signed) to trust besides the pinned Milan/Genoa/Turin ARKs (amd-roots.ts), which are bundled with their ASKs and ASVKs. */
  amdArkPems?: string[];
  /** SHA-256 fingerprints (hex) of further accepted ARKs when ARKs come with the evidence (an evidence ARK neither pinned nor configured is UNTRUSTED_ROOT). */
  amdArkFingerprints?: string[];
  /**
   * The VCEK for a chip and TCB when the evidence carries none (hosts without an
   * extended cert table): e.g. a cache of AMD KDS
   * /vcek/v1/{product}/{chipId}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=.. responses (DER).
   */
  snpVcekProvider?: (q: { product?: string; chipId: string; reportedTcb: Record<string, number> }) => Promise<Uint8Array | undefined>;
  /** ASK/ASVK certificates (PEM) available to the verifier besides the bundled ones, e.g. from a KDS cache. */
  amdIntermediatePems?: string[];
}

export interface SnpAttesterConfig {
  /** VMPL written to configfs privlevel. */
  snpPrivLevel?: number;
  /** /dev/sev-guest path: SNP_GET_EXT_REPORT with the host's certificate table (default true), or SNP_GET_REPORT alone. */
  snpExtendedReport?: boolean;
  /** The native ioctl helper (default $AENV_TEE_HELPER, else .tools/bin/aenv-tee-helper). */
  teeHelper?: string;
}

export const snpPlugin = definePlatform<'sev-snp', SnpVerifierOptions, SnpAttesterConfig>({
  name: 'sev-snp',
  auxKeys: SNP_AUX_KEYS,
  ual: { teePlatform: 'SEV_SNP' },
  attesterOptions: Type.Object({ snpPrivLevel: Type.Optional(Type.Integer({ minimum: 0, maximum: 3 })), snpExtendedReport: Type.Optional(Type.Boolean()), teeHelper: Type.Optional(Type.String({ minLength: 1 })) }),
  createVerifier: (o) => createSnpVerifier(o),
  createAttester: (o) => createSnpAttester({ root: o.root, privLevel: o.snpPrivLevel, extendedReport: o.snpExtendedReport, teeHelper: o.teeHelper }),
});
