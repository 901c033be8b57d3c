// tdx: Intel TDX quotes (DCAP v4/v5), verified to the Intel SGX Root CA.
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { dcapUal, type DcapVerifierOptions } from '../../core/dcap/verify.ts';
import { createTdxAttester } from './attester.ts';
import { createTdxVerifier } from './verifier.ts';

export const tdxPlugin = definePlatform<'tdx', DcapVerifierOptions, object>({
  name: 'tdx',
  ual: dcapUal('TDX'),
  attesterOptions: Type.Object({}),
  createVerifier: (o) => createTdxVerifier(o),
  createAttester: (o) => createTdxAttester(o.root),
});
