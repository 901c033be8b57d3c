// The plugin list: every TEE platform this project attests and verifies, in
// auto-detection order (hardware TEEs first, sim last: 'auto' only picks sim
// when allowSim is set). No folder scans. Adding a platform: a folder under
// plugins/ and one line here; its name, options and Trustflow report mapping
// then reach every config schema, codec and type below.
import { Type, type TUnsafe } from '@sinclair/typebox';
import { csvPlugin } from '../plugins/csv/plugin.ts';
import { snpPlugin } from '../plugins/sev-snp/plugin.ts';
import { sgxPlugin } from '../plugins/sgx/plugin.ts';
import { simPlugin } from '../plugins/sim/plugin.ts';
import { tdxPlugin } from '../plugins/tdx/plugin.ts';
import { tpmPlugin } from '../plugins/tpm/plugin.ts';
import type { CommonAttesterOptions, CommonVerifierOptions } from '../core/plugin.ts';

export const PLUGINS = [tdxPlugin, snpPlugin, sgxPlugin, csvPlugin, tpmPlugin, simPlugin] as const;

type Plugins = (typeof PLUGINS)[number];
type VerifierOptionsOf<P> = P extends { createVerifier(o: infer V): unknown } ? V : never;
type AttesterOptionsOf<P> = P extends { createAttester(o: infer A): unknown } ? A : never;
type UnionToIntersection<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void ? I : never;

/** Platform names used in config, evidence, claims and policies. */
export type PlatformName = Plugins['name'];
/** Every plugin's verifier options together (trust anchors, providers, collateral). */
export type VerifierOptions = UnionToIntersection<VerifierOptionsOf<Plugins>> & CommonVerifierOptions;
/** Every plugin's attester options together (device paths, helper commands, sim keys). */
export type AttesterOptions = UnionToIntersection<AttesterOptionsOf<Plugins>> & CommonAttesterOptions;

export const PLATFORM_NAMES: readonly PlatformName[] = PLUGINS.map((p) => p.name);

export function isPlatformName(v: unknown): v is PlatformName {
  return typeof v === 'string' && (PLATFORM_NAMES as readonly string[]).includes(v);
}

/** The one schema of a platform name, for every config that names one. */
export function platformNameSchema(opts: { default?: PlatformName; description?: string } = {}): TUnsafe<PlatformName> {
  return Type.Unsafe<PlatformName>(Type.Union(PLATFORM_NAMES.map((n) => Type.Literal(n)), opts));
}

/** A platform name or 'auto' (the first hardware TEE detected), for attester choices. */
export function attesterPlatformSchema(opts: { default?: PlatformName | 'auto'; description?: string } = {}): TUnsafe<PlatformName | 'auto'> {
  return Type.Unsafe<PlatformName | 'auto'>(Type.Union([Type.Literal('auto'), ...PLATFORM_NAMES.map((n) => Type.Literal(n))], opts));
}

export function pluginByName(name: string): Plugins | undefined {
  return PLUGINS.find((p) => p.name === name);
}
