// sim: a simulated TEE for development (no hardware root of trust: insecure).
import { Type } from '@sinclair/typebox';
import { definePlatform } from '../../core/plugin.ts';
import { createSimAttester } from './attester.ts';
import { ephemeralSimKey, loadOrCreateSimKey } from './signing-key.ts';
import { createSimVerifier } from './verifier.ts';

export interface SimVerifierOptions {
  /** PEM SPKI public keys whose signatures are trusted (see docs/platforms.md). */
  trustedSimKeys?: string[];
}

export interface SimAttesterConfig {
  /** Directory of the sim signing key (created 0700, key 0600); absent: an ephemeral key. */
  simKeyDir?: string;
  /** Measurements by name (hex). */
  simMeasurements?: Record<string, string>;
  /** Set the debug flag in the quote. */
  simDebug?: boolean;
}

export const simPlugin = definePlatform<'sim', SimVerifierOptions, SimAttesterConfig>({
  name: 'sim',
  // The sim quote carries everything itself.
  auxKeys: [],
  ual: { teePlatform: 'SIM' },
  attesterOptions: Type.Object({
    simKeyDir: Type.Optional(Type.String({ minLength: 1 })),
    simMeasurements: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: '^[0-9a-fA-F]*$' }))),
    simDebug: Type.Optional(Type.Boolean()),
  }),
  createVerifier: (o) => createSimVerifier(o.trustedSimKeys),
  createAttester: (o) => createSimAttester(o.simKeyDir ? loadOrCreateSimKey(o.simKeyDir) : ephemeralSimKey(), o.simMeasurements, o.simDebug),
});
