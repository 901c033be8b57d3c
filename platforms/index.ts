// The platforms entry point: the explicit plugin list (no folder scans), the one
// EvidenceVerifier users call, and attester selection by name or auto-detection.
import { appraise } from './core/appraisal.ts';
import { PlatformError } from './errors.ts';
import type { AttesterOptions, PlatformPlugin, PlatformVerifier, VerifierOptions } from './core/plugin.ts';
import { csvPlugin } from './plugins/csv/plugin.ts';
import { snpPlugin } from './plugins/sev-snp/plugin.ts';
import { sgxPlugin } from './plugins/sgx/plugin.ts';
import { simPlugin } from './plugins/sim/plugin.ts';
import { tdxPlugin } from './plugins/tdx/plugin.ts';
import { tpmPlugin } from './plugins/tpm/plugin.ts';
import type { Attester, Claims, Evidence, EvidenceVerifier, PlatformName, VerifyContext } from './core/types.ts';

export type { AttesterOptions, PlatformPlugin, VerifierOptions } from './core/plugin.ts';
export type * from './core/types.ts';
export { PlatformError } from './errors.ts';
export { appraise } from './core/appraisal.ts';
export type { CollateralProvider, TcbQuery } from './core/collateral.ts';
export { createIntelCollateralProvider, type IntelTcbInfoEntry } from './core/dcap/intel-collateral.ts';
export { decodeEvidence, encodeEvidence, isPlatformName, PLATFORM_NAMES } from './core/evidence-codec.ts';

/**
 * Every plugin, in auto-detection order: hardware TEEs first, sim last (sim is
 * only chosen by 'auto' when AttesterOptions.allowSim is set).
 */
export const PLUGINS: readonly PlatformPlugin[] = [tdxPlugin, snpPlugin, sgxPlugin, csvPlugin, tpmPlugin, simPlugin];

export function pluginByName(name: PlatformName): PlatformPlugin {
  const p = PLUGINS.find((x) => x.name === name);
  if (!p) throw new PlatformError('UNKNOWN_PLATFORM', `no plugin for platform "${name}"`);
  return p;
}

export interface EvidenceVerifierOptions extends VerifierOptions {
  /** Restrict to these platforms (default: all in PLUGINS). */
  platforms?: PlatformName[];
}

export function createEvidenceVerifier(opts: EvidenceVerifierOptions = {}): EvidenceVerifier & { parse(evidence: Evidence): unknown } {
  const verifiers = new Map<PlatformName, PlatformVerifier>();
  const enabled = opts.platforms ?? PLUGINS.map((p) => p.name);
  function verifierFor(platform: PlatformName): PlatformVerifier {
    if (!enabled.includes(platform)) throw new PlatformError('UNKNOWN_PLATFORM', `platform "${platform}" is not enabled in this verifier`);
    let v = verifiers.get(platform);
    if (!v) {
      v = pluginByName(platform).createVerifier(opts);
      verifiers.set(platform, v);
    }
    return v;
  }
  return {
    parse: (evidence: Evidence) => verifierFor(evidence.platform).parse(evidence),
    async verify(evidence: Evidence, ctx: VerifyContext = {}): Promise<Claims> {
      return verifierFor(evidence.platform).verify(evidence, ctx);
    },
    appraise,
  };
}

export interface CreateAttesterOptions extends AttesterOptions {
  /** With 'auto': fall back to sim when no hardware TEE is detected (default false). */
  allowSim?: boolean;
}

/** An attester by name, or the first detected hardware TEE with 'auto'. */
export async function createAttester(name: PlatformName | 'auto', opts: CreateAttesterOptions = {}): Promise<Attester & { simPublicKeyPem?: string }> {
  if (name !== 'auto') return pluginByName(name).createAttester(opts);
  for (const p of PLUGINS) {
    if (p.name === 'sim') continue;
    const a = p.createAttester(opts);
    if (await a.detect()) return a;
  }
  if (opts.allowSim) return simPlugin.createAttester(opts);
  throw new PlatformError('NO_PLATFORM', 'no TEE detected on this machine (tried tdx, sev-snp, sgx, csv, tpm); use the sim platform explicitly for development');
}
export { APP_KEY_NAMES, attestationReportData, computeKeySetDigest, createEphemeralAppIdentity, type AppIdentity, type AppKey, type AppKeyName } from './core/app-identity.ts';
export { loadOrCreateAppIdentity } from './transport/app-identity-files.ts';
export { evidenceToUal, ualToEvidence, type UalReportJson } from './core/ual-report.ts';
export { raCertReportData, verifyAttestationDocument, verifyRaCertResponse, type AttestationDocument } from './core/verify-attestation.ts';
