// tpm: TPM 2.0 quotes over PCRs, verified to a configured attestation key.
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { createTpmAttester } from './attester.ts';
import { createTpmVerifier, TPM_AUX_KEYS } from './verifier.ts';

export interface TpmVerifierOptions {
  /** Trusted attestation key public keys (PEM SPKI). */
  tpmTrustedAkPems?: string[];
}

export interface TpmAttesterConfig {
  /** AK handle and PCRs. */
  tpmAkHandle?: number;
  tpmPcrs?: number[];
  /** The TPM character device (default <root>/dev/tpmrm0, the kernel resource manager). */
  tpmDevice?: string;
  /** A TPM simulator instead of a device: "host:port", "tcp:host:port" or "unix:/path" (swtpm socket; development only). */
  tpmSimulator?: string;
}

export const tpmPlugin = definePlatform<'tpm', TpmVerifierOptions, TpmAttesterConfig>({
  name: 'tpm',
  auxKeys: TPM_AUX_KEYS,
  ual: { teePlatform: 'TPM' },
  attesterOptions: Type.Object({ tpmAkHandle: Type.Optional(Type.Integer({ minimum: 0 })), tpmPcrs: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 23 }), { minItems: 1 })), tpmDevice: Type.Optional(Type.String({ minLength: 1 })), tpmSimulator: Type.Optional(Type.String({ pattern: '^(unix:/.+|(tcp:)?[A-Za-z0-9.\\[\\]:-]+:[0-9]{1,5})$' })) }),
  createVerifier: (o) => createTpmVerifier(o),
  createAttester: (o) => createTpmAttester({ root: o.root, akHandle: o.tpmAkHandle, pcrs: o.tpmPcrs, device: o.tpmDevice, simulator: o.tpmSimulator }),
});
