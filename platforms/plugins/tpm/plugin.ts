// tpm: TPM 2.0 quotes over PCRs, verified to a configured attestation key.
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { createTpmAttester } from './attester.ts';
import { createTpmVerifier } from './verifier.ts';

export interface TpmVerifierOptions {
  /** Trusted attestation key public keys (PEM SPKI). */
  tpmTrustedAkPems?: string[];
}

export interface TpmAttesterConfig {
  /** AK handle and PCRs. */
  tpmAkHandle?: number;
  tpmPcrs?: number[];
}

export const tpmPlugin = definePlatform<'tpm', TpmVerifierOptions, TpmAttesterConfig>({
  name: 'tpm',
  ual: { teePlatform: 'TPM' },
  attesterOptions: Type.Object({ tpmAkHandle: Type.Optional(Type.Integer({ minimum: 0 })), tpmPcrs: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 23 }), { minItems: 1 })) }),
  createVerifier: (o) => createTpmVerifier(o),
  createAttester: (o) => createTpmAttester({ root: o.root, akHandle: o.tpmAkHandle, pcrs: o.tpmPcrs }),
});
