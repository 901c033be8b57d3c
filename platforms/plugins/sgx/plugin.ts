import type { PlatformPlugin } from '../../core/plugin.ts';
import { createSgxAttester } from './attester.ts';
import { createSgxVerifier } from './verifier.ts';

export const sgxPlugin: PlatformPlugin = {
  name: 'sgx',
  createVerifier: (o) => createSgxVerifier(o),
  createAttester: (o) => createSgxAttester(o.root, o.sgxQuoteCommand),
};
