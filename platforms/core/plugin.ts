// What one platform plugin declares and provides. The catalog
// (platforms/catalog/index.ts) holds the explicit list; everything platform-
// specific lives in the plugin's own folder: its name, the options its verifier
// and attester read (types, and a schema for the attester's data options), how
// its evidence maps onto Trustflow's UnifiedAttestationReport, the aux keys its
// evidence may carry, and the two factories. Adding a TEE is one folder plus
// one line in the catalog.
import type { TObject } from '@sinclair/typebox';
import type { Attester, Claims, Evidence, VerifyContext } from './types.ts';
import type { CollateralProvider } from './collateral.ts';

/** Verifier options every plugin receives (never from the prover). */
export interface CommonVerifierOptions {
  /** TCB collateral (PCCS, file cache). Without it TCB status is "Unknown". */
  collateral?: CollateralProvider;
}

/** Attester options every plugin receives. */
export interface CommonAttesterOptions {
  /** Root of sysfs/configfs/dev lookups; tests point it at an emulated tree. */
  root?: string;
}

export interface PlatformVerifier {
  readonly platform: string;
  /** Pure and synchronous: the platform's structure, no trust established. */
  parse(evidence: Evidence): unknown;
  verify(evidence: Evidence, ctx: VerifyContext): Promise<Claims>;
}

/**
 * Evidence <-> Trustflow's UnifiedAttestationReport json_report. `fields` names
 * the aux keys that travel in report fields of their own (Trustflow's shapes,
 * e.g. DCAP json_collateral); every other aux key travels in json_aux.
 */
export interface UalMapping {
  /** str_tee_platform (Trustflow: SGX_DCAP, TDX, CSV; ours: SEV_SNP, TPM, SIM). */
  teePlatform: string;
  /** The platform's own json_report fields from aux (and the aux keys they consumed). */
  toReport?(aux: Readonly<Record<string, string>>): { fields: Record<string, string>; used: string[] };
  /** The aux entries its own json_report fields carry. */
  fromReport?(report: Readonly<Record<string, unknown>>, str: (k: string) => string | undefined): Record<string, string>;
}

export interface PlatformPlugin<N extends string = string, V = object, A = object> {
  readonly name: N;
  readonly ual: UalMapping;
  /**
   * Every aux key this platform's evidence may carry. The catalog's verifier
   * rejects evidence with any other key (EVIDENCE_MALFORMED naming it) before the
   * plugin sees it, so an unknown key is never silently ignored.
   */
  readonly auxKeys: readonly string[];
  /** Schema of the attester's data options (checked before an attester is made: a bad option is a clear error). */
  readonly attesterOptions: TObject;
  createVerifier(opts: V & CommonVerifierOptions): PlatformVerifier;
  createAttester(opts: A & CommonAttesterOptions): Attester;
}

export function definePlatform<N extends string, V, A>(p: PlatformPlugin<N, V, A>): PlatformPlugin<N, V, A> {
  return p;
}
