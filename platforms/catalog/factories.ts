// The one EvidenceVerifier users call, and attester selection by name or
// auto-detection, over the plugin list.
import { Value } from '@sinclair/typebox/value';
import { appraise } from '../core/appraisal.ts';
import { PlatformError } from '../errors.ts';
import type { PlatformVerifier } from '../core/plugin.ts';
import type { Attester, Claims, Evidence, EvidenceVerifier, VerifyContext } from '../core/types.ts';
import { PLATFORM_NAMES, PLUGINS, pluginByName, type AttesterOptions, type PlatformName, type VerifierOptions } from './index.ts';

export interface EvidenceVerifierOptions extends VerifierOptions {
  /** Restrict to these platforms (default: all in PLUGINS). */
  platforms?: PlatformName[];
}

function plugin(name: PlatformName) {
  const p = pluginByName(name);
  if (!p) throw new PlatformError('UNKNOWN_PLATFORM', `no plugin for platform "${name}"`);
  return p;
}

export function createEvidenceVerifier(opts: EvidenceVerifierOptions = {}): EvidenceVerifier & { parse(evidence: Evidence): unknown } {
  const verifiers = new Map<PlatformName, PlatformVerifier>();
  const enabled = opts.platforms ?? PLATFORM_NAMES;
  function verifierFor(platform: PlatformName): PlatformVerifier {
    if (!enabled.includes(platform)) throw new PlatformError('UNKNOWN_PLATFORM', `platform "${platform}" is not enabled in this verifier`);
    let v = verifiers.get(platform);
    if (!v) {
      v = plugin(platform).createVerifier(opts);
      verifiers.set(platform, v);
    }
    return v;
  }
  return {
    parse: (evidence: Evidence) => {
      const v = verifierFor(evidence.platform);
      checkAuxKeys(evidence);
      return v.parse(evidence);
    },
    async verify(evidence: Evidence, ctx: VerifyContext = {}): Promise<Claims> {
      const v = verifierFor(evidence.platform);
      checkAuxKeys(evidence);
      return v.verify(evidence, ctx);
    },
    appraise,
  };
}

/**
 * The one aux rule, for every platform: each plugin declares its aux keys
 * (plugin.ts `auxKeys`); evidence with any other key is rejected, naming it,
 * before the plugin parses anything. An unknown key may be a newer attester's
 * input this verifier would silently ignore, so it is never accepted.
 */
export function checkAuxKeys(evidence: Evidence): void {
  const known = plugin(evidence.platform).auxKeys;
  for (const k of Object.keys(evidence.aux ?? {})) {
    if (!known.includes(k)) {
      const list = known.length > 0 ? `its aux keys are ${known.join(', ')}` : 'it takes no aux entries';
      throw new PlatformError('EVIDENCE_MALFORMED', `${evidence.platform} evidence: unknown aux entry "${k}" (${list})`, { details: { auxKey: k } });
    }
  }
}

export interface CreateAttesterOptions extends AttesterOptions {
  /** With 'auto': fall back to sim when no hardware TEE is detected (default false). */
  allowSim?: boolean;
}

/** The plugin's declared attester options are checked first: a wrong type is a clear error, not a late failure. */
function checkedAttester(p: (typeof PLUGINS)[number], opts: CreateAttesterOptions): Attester {
  const own = Object.fromEntries(Object.keys(p.attesterOptions.properties).filter((k) => (opts as Record<string, unknown>)[k] !== undefined).map((k) => [k, (opts as Record<string, unknown>)[k]]));
  const errors = [...Value.Errors(p.attesterOptions, own)].map((e) => `${e.path.slice(1) || '(options)'} ${e.message}`);
  if (errors.length) throw new PlatformError('INVALID_INPUT', `${p.name} attester options: ${errors.join('; ')}`);
  return p.createAttester(opts);
}

/** An attester by name, or the first detected hardware TEE with 'auto'. */
export async function createAttester(name: PlatformName | 'auto', opts: CreateAttesterOptions = {}): Promise<Attester & { simPublicKeyPem?: string }> {
  if (name !== 'auto') return checkedAttester(plugin(name), opts);
  for (const p of PLUGINS) {
    if (p.name === 'sim') continue;
    const a = checkedAttester(p, opts);
    if (await a.detect()) return a;
  }
  if (opts.allowSim) return checkedAttester(plugin('sim'), opts);
  throw new PlatformError('NO_PLATFORM', `no TEE detected on this machine (tried ${PLATFORM_NAMES.filter((n) => n !== 'sim').join(', ')}); use the sim platform explicitly for development`);
}
