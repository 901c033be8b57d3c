// What one platform plugin provides. The host (index.ts) holds the explicit list
// of plugins; each supplies a verifier factory (fed with the deployment's trust
// anchors) and an attester factory (fed with device paths / config).
import type { Attester, Claims, Evidence, PlatformName, VerifyContext } from './types.ts';
import type { CollateralProvider } from './collateral.ts';

/** Deployment-supplied trust material for all verifiers (never from the prover). */
export interface VerifierOptions {
  /** sim: PEM SPKI public keys whose signatures are trusted (see docs/platforms.md). */
  trustedSimKeys?: string[];
  /** sgx/tdx: Intel SGX Root CA certificate(s), PEM. Defaults to the pinned Intel root. */
  intelRootCaPems?: string[];
  /** sev-snp: AMD ARK certificates (PEM, self-signed). Defaults to none: evidence must ship ASK+ARK and an ARK fingerprint must be pinned below. */
  amdArkPems?: string[];
  /** sev-snp: SHA-256 fingerprints (hex) of accepted ARKs when ARKs come with the evidence. */
  amdArkFingerprints?: string[];
  /**
   * sev-snp: the VCEK for a chip and TCB when the evidence carries none (hosts
   * without an extended cert table): e.g. a cache of AMD KDS
   * /vcek/v1/{product}/{chipId}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=.. responses (DER).
   */
  snpVcekProvider?: (q: { product?: string; chipId: string; reportedTcb: Record<string, number> }) => Promise<Uint8Array | undefined>;
  /** sev-snp: ASK/ASVK certificates (PEM) available to the verifier, e.g. from a KDS cache. */
  amdIntermediatePems?: string[];
  /** csv: Hygon root key (HRK) certificate, Hygon binary format. */
  hygonHrk?: Uint8Array;
  /** csv: HSK and CEK certificates of a chip (by serial number), e.g. from a Hygon KDS cache. */
  csvCertProvider?: (chipSn: string) => Promise<{ hsk: Uint8Array; cek: Uint8Array } | undefined>;
  /** csv: when true, the PEK -> report signature alone is accepted if no HSK/CEK chain is available. */
  csvAllowPekOnly?: boolean;
  /** tpm: trusted attestation key public keys (PEM SPKI). */
  tpmTrustedAkPems?: string[];
  /** TCB collateral (PCCS, file cache). Without it TCB status is "Unknown". */
  collateral?: CollateralProvider;
}

export interface PlatformVerifier {
  readonly platform: PlatformName;
  /** Pure and synchronous: the platform's structure, no trust established. */
  parse(evidence: Evidence): unknown;
  verify(evidence: Evidence, ctx: VerifyContext): Promise<Claims>;
}

export interface AttesterOptions {
  /** Root of sysfs/configfs/dev lookups; tests point it at an emulated tree. */
  root?: string;
  /** sim: directory of the sim signing key (created 0700, key 0600). */
  simKeyDir?: string;
  /** sim: measurements by name (hex). */
  simMeasurements?: Record<string, string>;
  /** sim: set the debug flag in the quote. */
  simDebug?: boolean;
  /** sev-snp: VMPL written to configfs privlevel. */
  snpPrivLevel?: number;
  /** sgx (Occlum): command that prints a DCAP quote for the report data (hex, last argument). */
  sgxQuoteCommand?: string[];
  /** csv: ioctl helper command (request hex as last argument, report on stdout). */
  csvReportCommand?: string[];
  /** csv: directory of <chip serial>/hsk_cek.cert files sent along with the report. */
  csvHskCekDir?: string;
  /** tpm: AK handle and PCRs. */
  tpmAkHandle?: number;
  tpmPcrs?: number[];
}

export interface PlatformPlugin {
  readonly name: PlatformName;
  createVerifier(opts: VerifierOptions): PlatformVerifier;
  createAttester(opts: AttesterOptions): Attester;
}
