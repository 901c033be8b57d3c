// sgx: Intel SGX DCAP quotes (v3) from an enclave runtime (Gramine, Occlum).
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { DCAP_AUX_KEYS, dcapUal, type DcapVerifierOptions } from '../../core/dcap/verify.ts';
import { createSgxAttester } from './attester.ts';
import { createSgxVerifier } from './verifier.ts';

export interface SgxAttesterConfig {
  /** (Occlum) command that prints a DCAP quote for the report data (hex, last argument). */
  sgxQuoteCommand?: string[];
}

export const sgxPlugin = definePlatform<'sgx', DcapVerifierOptions, SgxAttesterConfig>({
  name: 'sgx',
  auxKeys: DCAP_AUX_KEYS,
  ual: dcapUal('SGX_DCAP'),
  attesterOptions: Type.Object({ sgxQuoteCommand: Type.Optional(Type.Array(Type.String(), { minItems: 1 })) }),
  createVerifier: (o) => createSgxVerifier(o),
  createAttester: (o) => createSgxAttester(o.root, o.sgxQuoteCommand),
});
