import type { PlatformPlugin } from '../../core/plugin.ts';
import { createTpmAttester } from './attester.ts';
import { createTpmVerifier } from './verifier.ts';

export const tpmPlugin: PlatformPlugin = {
  name: 'tpm',
  createVerifier: (o) => createTpmVerifier(o),
  createAttester: (o) => createTpmAttester({ root: o.root, akHandle: o.tpmAkHandle, pcrs: o.tpmPcrs }),
};
