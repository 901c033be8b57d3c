// One encrypted RPC of the capsule manager, declared: its name, who may call
// it (auth), the schema of its request body, its audit policy and its handler.
// rpcs/ holds one file per RPC and the table; pipeline.ts runs every one the
// same way: open -> validate -> authorize -> handle -> audit -> seal.
import type { Static, TObject } from '@sinclair/typebox';
import type { KeyObject } from 'node:crypto';
import type { AppraisalPolicy, Attester, EvidenceVerifier } from '../../../platforms/index.ts';
import type { AuditEvent, AuditLog } from '../../storage/audit-log.ts';
import type { VerifiedSigner } from '../envelope.ts';
import type { ServiceObserver } from '../observer.ts';
import type { Repository } from '../repository.ts';
import type { ReleaseSession, ReleaseSessionTable } from '../session/table.ts';

export interface CmIdentity {
  privateKey: KeyObject;
  certPem: string;
  partyId: string;
  /** The agreement keys the certificate names (ECDH-ES request envelopes); absent: RSA only. */
  x25519?: KeyObject;
  p256?: KeyObject;
}

/** What every handler may use: the state, the CM's identity and trust anchors, the clock. */
export interface RpcContext {
  repo: Repository;
  identity: CmIdentity;
  verifier: EvidenceVerifier;
  /** Appraisal of apps' evidence (platforms, measurements, allowInsecure for sim...). */
  appraisal: AppraisalPolicy;
  /** Without a report GetDataKeys is refused (default true; false = Trustflow's sim mode, r.env.tee.platform "none"). */
  requireAttestation: boolean;
  attester?: Attester;
  observer?: ServiceObserver;
  /** Key releases must carry a fresh request_time and an unused nonce. */
  freshness: { required: boolean; windowSeconds: number };
  /** Attested release sessions (core/session/); absent: disabled, their RPCs answer UNSUPPORTED. */
  sessions?: ReleaseSessionTable;
  now(): Date;
}

/**
 * Who may call:
 *  - signer: any verified JWS signer (x5c);
 *  - owner: a signer whose party id is the body's owner_party_id;
 *  - registered-owner: an owner whose certificate was registered (RegisterCert);
 *  - attested-app: a signer holding the key of the body's `cert` (the attested app's certificate).
 */
export type AuthKind = 'signer' | 'owner' | 'registered-owner' | 'attested-app';

/** What the pipeline established before the handler runs. */
export interface Caller {
  signer: VerifiedSigner;
  /** owner / registered-owner: the owner party. */
  owner?: string;
  /** attested-app: the attested certificate (PEM). */
  cert?: string;
}

export interface RpcResult {
  response: unknown;
  /** Audit records of the outcome, appended (durable) before the response is sealed. */
  audit: AuditEvent[];
}

export interface RpcDef<S extends TObject = TObject, N extends string = string> {
  name: N;
  auth: AuthKind;
  /** The request body (JSON names of secretflowapis v2); checked before anything else. */
  schema: S;
  /**
   * Audit of a refused request: 'target' records every CmError with the target
   * the body names (resource_uri, data_uuid or owner_party_id); 'own' means the
   * handler attaches its own record to what it throws (key releases name the
   * initiator and the denied conditions) and other refusals are not recorded.
   */
  auditErrors: 'target' | 'own';
  handle(ctx: RpcContext, body: Static<S>, caller: Caller): Promise<RpcResult>;
}

/**
 * An RPC inside a release session (rpc/pipeline.ts runInSession): the session
 * is the caller (opened by an attested app, its claims verified); refusals
 * attach their audit record (withAudit) as auditErrors 'own' does.
 */
export interface SessionRpcDef<S extends TObject = TObject> {
  name: string;
  schema: S;
  handle(ctx: RpcContext, body: Static<S>, session: ReleaseSession): Promise<RpcResult>;
}

export function defineRpc<S extends TObject, N extends string>(def: RpcDef<S, N>): RpcDef<S, N> {
  return def;
}

const attachedAudit = new WeakMap<object, AuditEvent>();

/** Attaches the audit record of a refusal to the error that carries it (auditErrors: 'own'). */
export function withAudit<E extends Error>(error: E, event: AuditEvent): E {
  attachedAudit.set(error, event);
  return error;
}

export function auditOf(error: unknown): AuditEvent | undefined {
  return error && typeof error === 'object' ? attachedAudit.get(error) : undefined;
}

export type { AuditLog };
