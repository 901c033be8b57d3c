// The contract between TEE platform plugins and their users (ra-proxy, the
// capsule manager, ext-authz, the client `verify`). Pure types: no I/O here.
//
// Three steps stay apart (see docs/platforms.md):
//   parse    – pure and synchronous: bytes -> structured quote (no trust yet);
//   verify   – signatures and certificate chains, offline first, collateral and
//              trust anchors injected; yields Claims;
//   appraise – policy over verified Claims: expected measurements, debug off,
//              minimum TCB, report_data binding.

/** Platform names used in config, claims and policies (the plugin list's names). */
import type { PlatformName } from '../catalog/index.ts';
export type { PlatformName };

/**
 * Evidence as produced by an attester and carried on the wire. `quote` holds the
 * raw quote/report bytes; `aux` carries platform extras that are not inside the
 * quote (e.g. SNP VCEK/VLEK cert table, CSV cert chain, TPM PCR values and AK),
 * each as a string (base64, PEM or JSON) so evidence serialises as JSON.
 */
export interface Evidence {
  platform: PlatformName;
  quote: Uint8Array;
  aux?: Record<string, string>;
}

/**
 * TCB status as reported by verification. "Unknown" when no collateral was
 * available (appraisal rejects it unless the policy accepts it explicitly);
 * "NotApplicable" only for the insecure sim platform, which has no TCB at all.
 */
export type TcbStatus = 'UpToDate' | 'SWHardeningNeeded' | 'ConfigurationNeeded' | 'ConfigurationAndSWHardeningNeeded' | 'OutOfDate' | 'OutOfDateConfigurationNeeded' | 'Revoked' | 'Unknown' | 'NotApplicable';

/**
 * One step of verification and what became of it: `pass` (checked and good),
 * `not-checked` (this verifier did not or could not check it, e.g. no CRLs
 * supplied), `warn` (checked, and the user should know, e.g. unsigned trailing
 * bytes). A check that fails makes verification throw instead.
 */
export interface VerificationCheck {
  /** Check name, e.g. signature, cert-chain, crl, tcb-status, trailing-bytes (platforms/core/checks.ts). */
  check: string;
  result: 'pass' | 'not-checked' | 'warn';
  detail?: string;
}

/**
 * Verified claims in one normalized shape, whatever the platform.
 * Hex strings are lowercase without 0x.
 */
export interface Claims {
  platform: PlatformName;
  /**
   * Measurements by name. Native names per platform (e.g. tdx: mr_td, rtmr0..3,
   * mr_seam, mr_config_id, mr_owner; sgx: mr_enclave, mr_signer; sev-snp:
   * measurement, host_data, id_key_digest; csv: measure; tpm: pcr<N>) plus the
   * Trustflow aliases where they apply: sgx.mr_enclave/mr_signer,
   * tdx.mr_plat (MRSEAM), tdx.mr_boot (MRTD), tdx.mr_ta (RTMR3 digest), csv.mr_boot.
   */
  measurements: Record<string, string>;
  /** The 64-byte REPORT_DATA (or TPM extraData, zero-padded) as hex. */
  reportData: string;
  tcb: { status: TcbStatus; svn?: Record<string, number | string> };
  debug: boolean;
  /** true only for the sim platform: evidence with no hardware root of trust. */
  insecure: boolean;
  /** Platform-specific extras that policies may read (chip id, vmpl, product, ...). */
  extra?: Record<string, string | number | boolean>;
  /** What verification checked and what it did not, in order (docs/platforms.md, "Verdicts"). */
  checks: VerificationCheck[];
}

/** Expected values: every listed measurement must equal one of the allowed values. */
export interface AppraisalPolicy {
  platforms?: PlatformName[];
  measurements?: Record<string, string | string[]>;
  allowDebug?: boolean;
  /**
   * Accept only these TCB statuses. Default: any status collateral established but
   * Revoked, plus NotApplicable (sim, which needs allowInsecure anyway); never
   * Unknown unless listed here or allowUnknownTcb is set.
   */
  acceptedTcbStatuses?: TcbStatus[];
  /** Accept TCB status Unknown (no collateral established the TCB level) in addition to the accepted statuses (default false). */
  allowUnknownTcb?: boolean;
  /** Minimum value per TCB component (names as in Claims.tcb.svn, e.g. sev-snp "snp", sgx "isv_svn"). */
  minTcbSvn?: Record<string, number>;
  /** Accept the insecure sim platform (default false). */
  allowInsecure?: boolean;
  /** Expected report data (hex, compared on its length, right-padded with zeros to 64 bytes if shorter). */
  reportData?: string;
}

export interface AppraisalResult {
  ok: boolean;
  /** Each failed condition, in words a user can act on (e.g. "measurement mr_td: expected ab.., got cd.."). */
  failures: string[];
}

/** Produces evidence inside the TEE. */
export interface Attester {
  readonly platform: PlatformName;
  /** Whether this machine can produce evidence of this platform. */
  detect(): Promise<boolean>;
  /** Evidence whose report data is `reportData` (at most 64 bytes; shorter is zero-padded). */
  getEvidence(reportData: Uint8Array): Promise<Evidence>;
}

/** Verification inputs that come from the deployment, never from the prover. */
export interface VerifyContext {
  /** "now" for certificate validity (tests pin it). */
  now?: Date;
}

/** The one entry point users of platforms/ call. */
export interface EvidenceVerifier {
  /** Pure and synchronous parse of the evidence (platform structure, nothing verified). */
  parse?(evidence: Evidence): unknown;
  /** Parse + verify (signatures, chains). Throws a PlatformError with a precise reason on failure. */
  verify(evidence: Evidence, ctx?: VerifyContext): Promise<Claims>;
  /** Pure policy check over verified claims. */
  appraise(claims: Claims, policy: AppraisalPolicy): AppraisalResult;
}
