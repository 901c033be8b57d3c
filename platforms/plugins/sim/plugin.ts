import type { PlatformPlugin } from '../../core/plugin.ts';
import { createSimAttester } from './attester.ts';
import { ephemeralSimKey, loadOrCreateSimKey } from './signing-key.ts';
import { createSimVerifier } from './verifier.ts';

export const simPlugin: PlatformPlugin = {
  name: 'sim',
  createVerifier: (o) => createSimVerifier(o.trustedSimKeys),
  createAttester: (o) => createSimAttester(o.simKeyDir ? loadOrCreateSimKey(o.simKeyDir) : ephemeralSimKey(), o.simMeasurements, o.simDebug),
};
