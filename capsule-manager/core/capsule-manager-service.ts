// The capsule manager's operations, transport-agnostic: both the gRPC service
// and the HTTP JSON API hand every EncryptedRequest (proto JSON form) to
// `handle(rpc, request)` and send back what it returns. Each encrypted RPC is
// one file in rpcs/ (auth, request schema, audit policy, handler), run by the
// one pipeline in rpc/pipeline.ts; this class holds their context and the
// plain GetRaCert. Requests and responses are the snake_case JSON of secretflowapis v2.
import { randomBytes } from 'node:crypto';
import { evidenceToUal, type AppraisalPolicy, type Attester, type EvidenceVerifier } from '../../platforms/index.ts';
import type { AuditLog } from '../storage/audit-log.ts';
import { certBinding } from './envelope.ts';
import { CmError } from '../errors.ts';
import type { Repository } from './repository.ts';
import { VERIFICATION_CODES, type ServiceObserver } from './observer.ts';
import { runEncrypted, runInSession, type EncryptedRequestJson, type EncryptedResponseJson } from './rpc/pipeline.ts';
import type { CmIdentity, RpcContext } from './rpc/rpc.ts';
import { ENCRYPTED_RPCS, RPC_TABLE, type EncryptedRpc } from './rpcs/index.ts';
import { openReleaseSession } from './session/open.ts';
import { sessionGetDataKeys } from './session/release.ts';
import type { ReleaseSessionTable } from './session/table.ts';

export { ENCRYPTED_RPCS, type EncryptedRpc } from './rpcs/index.ts';
export type { EncryptedRequestJson, EncryptedResponseJson } from './rpc/pipeline.ts';
export type { CmIdentity } from './rpc/rpc.ts';
export { TLS_VALIDITY_MAX_SECONDS, TLS_VALIDITY_MIN_SECONDS } from './rpcs/get-tls-asset.ts';

export interface CapsuleManagerServiceOptions {
  repo: Repository;
  identity: CmIdentity;
  verifier: EvidenceVerifier;
  /** Appraisal of apps' evidence (platforms, measurements, allowInsecure for sim...). */
  appraisal: AppraisalPolicy;
  /** Without a report GetDataKeys is refused (default true; false = Trustflow's sim mode, r.env.tee.platform "none"). */
  requireAttestation?: boolean;
  /** Produces the capsule manager's own evidence for GetRaCert. */
  attester?: Attester;
  audit: AuditLog;
  /** Metrics hook (capsule-manager/transport/metrics.ts); absent = nothing observed. */
  observer?: ServiceObserver;
  /** Key releases must be fresh (default required, 120 s window). */
  freshness?: { required: boolean; windowSeconds: number };
  /** Attested release sessions (aenv.capsule_manager.v1.ReleaseSessions); absent = disabled. */
  sessions?: ReleaseSessionTable;
  now?: () => Date;
}

export class CapsuleManagerService {
  private readonly ctx: RpcContext;
  constructor(private readonly o: CapsuleManagerServiceOptions) {
    const now = o.now ?? (() => new Date());
    this.ctx = { repo: o.repo, identity: o.identity, verifier: o.verifier, appraisal: o.appraisal, requireAttestation: o.requireAttestation !== false, attester: o.attester, observer: o.observer, freshness: o.freshness ?? { required: true, windowSeconds: 120 }, sessions: o.sessions, now };
  }

  get certPem(): string {
    return this.o.identity.certPem;
  }

  /** GetRaCert: the CM's certificate and its own evidence bound to SHA-256(cert "." nonce). */
  async getRaCert(req: { nonce?: string }): Promise<{ status: { code: number; message: string }; cert: string; attestation_report?: ReturnType<typeof evidenceToUal> }> {
    return this.observed('GetRaCert', () => this.raCert(req));
  }

  /** Every encrypted RPC: open, validate, authorize, handle, audit, seal (rpc/pipeline.ts). */
  async handle(rpc: EncryptedRpc, req: EncryptedRequestJson): Promise<EncryptedResponseJson> {
    // rpc comes from the transports' fixed list; anything else is one bounded label.
    return this.observed(ENCRYPTED_RPCS.includes(rpc) ? rpc : 'unknown', () => {
      const def = RPC_TABLE.get(rpc);
      if (!def) throw new CmError('INVALID_REQUEST', `unknown operation ${String(rpc)}`);
      return runEncrypted(this.ctx, this.o.audit, def, req);
    });
  }

  /** OpenReleaseSession (aenv): attest once, get a session key sealed to the attested cert (core/session/open.ts). */
  async openReleaseSession(req: EncryptedRequestJson): Promise<EncryptedResponseJson> {
    return this.observed('OpenReleaseSession', () => runEncrypted(this.ctx, this.o.audit, openReleaseSession as never, req));
  }

  /** GetDataKeys inside a release session (core/session/release.ts). */
  async sessionGetDataKeys(req: EncryptedRequestJson): Promise<EncryptedResponseJson> {
    return this.observed('SessionGetDataKeys', () => runInSession(this.ctx, this.o.audit, sessionGetDataKeys as never, req));
  }

  private async observed<T>(rpc: string, run: () => Promise<T>): Promise<T> {
    const obs = this.o.observer;
    if (!obs) return run();
    const t0 = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - t0) / 1e9;
    try {
      const r = await run();
      obs.request(rpc, 'ok', seconds());
      return r;
    } catch (e) {
      const code = e instanceof CmError ? e.code : 'INTERNAL';
      obs.request(rpc, code, seconds());
      if (e instanceof CmError && e.kind === 'permission_denied') obs.denied(rpc);
      if (VERIFICATION_CODES.has(code)) obs.verificationFailed(code);
      throw e;
    }
  }

  private async raCert(req: { nonce?: string }): Promise<{ status: { code: number; message: string }; cert: string; attestation_report?: ReturnType<typeof evidenceToUal> }> {
    const nonce = req.nonce ?? '';
    if (typeof nonce !== 'string' || nonce.length < 1 || nonce.length > 256) throw new CmError('INVALID_REQUEST', 'nonce must be 1..256 characters');
    if (!this.o.attester) return { status: { code: 0, message: 'success' }, cert: this.certPem };
    const evidence = await this.o.attester.getEvidence(certBinding(this.certPem, nonce));
    return { status: { code: 0, message: 'success' }, cert: this.certPem, attestation_report: evidenceToUal(evidence) };
  }
}

/** A fresh random data key (16 bytes, AES-128-GCM as Trustflow's .enc default). */
export function newDataKey(bytes = 16): Buffer {
  return randomBytes(bytes);
}
