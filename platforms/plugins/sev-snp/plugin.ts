import type { PlatformPlugin } from '../../core/plugin.ts';
import { createSnpAttester } from './attester.ts';
import { createSnpVerifier } from './verifier.ts';

export const snpPlugin: PlatformPlugin = {
  name: 'sev-snp',
  createVerifier: (o) => createSnpVerifier(o),
  createAttester: (o) => createSnpAttester(o.root, o.snpPrivLevel),
};
