import type { PlatformPlugin } from '../../core/plugin.ts';
import { createTdxAttester } from './attester.ts';
import { createTdxVerifier } from './verifier.ts';

export const tdxPlugin: PlatformPlugin = {
  name: 'tdx',
  createVerifier: (o) => createTdxVerifier(o),
  createAttester: (o) => createTdxAttester(o.root),
};
