// What the service reports about its work, for metrics. The service stays free
// of any metrics library: transport wiring (start.ts) plugs in a Prometheus
// implementation (capsule-manager/metrics.ts); tests may plug in their own.
export interface ServiceObserver {
  /** Every RPC once it is answered: outcome "ok" or the error code (closed table, so bounded). */
  request(rpc: string, outcome: string, seconds: number): void;
  /** Keys handed out by an allowed GetDataKeys / GetExportDataKey. */
  keysReleased(rpc: string, count: number): void;
  /** A request refused for lack of permission (policy, attestation, ownership, export votes). */
  denied(rpc: string): void;
  /** A GetTlsAsset answered: "leaf" (the app's own key certified) or "shared" (Trustflow's shared asset). */
  tlsAssetIssued(kind: 'leaf' | 'shared'): void;
  /** The envelope or the evidence did not verify: BAD_ENVELOPE, BAD_SIGNATURE, SIGNATURE_REQUIRED, ATTESTATION_FAILED. */
  verificationFailed(code: string): void;
}

export const VERIFICATION_CODES: ReadonlySet<string> = new Set(['BAD_ENVELOPE', 'BAD_SIGNATURE', 'SIGNATURE_REQUIRED', 'ATTESTATION_FAILED']);
