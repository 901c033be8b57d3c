// CapsuleManagerClient (interface 5): gRPC client of the capsule manager with
// the encrypted, signed envelope. connect() fetches GetRaCert with a fresh
// nonce and verifies the CM's own report before its key is used; every other
// method seals its request to that verified key and opens the response with
// the caller's key. Method names follow the RPCs.
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  CapsuleManagerClient as GrpcClient,
  CreateResultDataKeyRequest_Body,
  EncryptedRequest,
  EncryptedResponse,
  GetRaCertRequest,
  GetRaCertResponse,
  ResourceRequest as ResourceRequestPb,
} from '../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { agreementKeysOfCert, createEvidenceVerifier } from '../../platforms/index.ts';
import { evidenceToUal } from '../../platforms/index.ts';
import type { AppraisalPolicy, Attester, Claims, EvidenceVerifier } from '../../platforms/index.ts';
import { createHash } from 'node:crypto';
import { certBinding, openResponse, sealRequest, type JweJson, type Signer } from '../core/envelope.ts';
import type { Policy, ResourceRequest, Rule } from '../core/model.ts';
import { partyIdOfKey } from '../core/party-id.ts';
import { CmError } from '../errors.ts';
import { verifyCapsuleManagerReport } from '../core/verify-cm.ts';
import { sessionBinding } from '../core/session/open.ts';
import { jweOfResponse, ReleaseSession, ReleaseSessions, sessionTransport, type DataKey, type SessionCall } from './release-session-client.ts';

export { verifyCapsuleManagerReport } from '../core/verify-cm.ts';
export { ReleaseSession, ReleaseSessions } from './release-session-client.ts';
export { signVote, exportAction } from '../core/export-votes.ts';
export type { Signer } from '../core/envelope.ts';

export interface CapsuleManagerClientOptions {
  /** host:port of the CM's gRPC endpoint. */
  address: string;
  /** The caller's signing key and certificate chain (leaf first). */
  signer: Signer;
  /** How the CM's own report is checked. */
  verify:
    | { verifier?: EvidenceVerifier; trustedSimKeys?: string[]; policy: AppraisalPolicy }
    /** Development only: trust this CM certificate without attestation (pinned). */
    | { pinnedCertPem: string };
  timeoutMs?: number;
  /**
   * How requests are sealed to the CM: `rsa-oaep-256` (default; Trustflow's
   * envelope, one RSA-2048 private operation on the CM per request) or
   * `ecdh-es` (ECDH-ES to the X25519 key the CM's verified certificate names:
   * ~40 us of CM CPU instead of ~260 us). `ecdh-es` with a CM whose certificate
   * names no such key fails at connect() with UNSUPPORTED.
   */
  envelope?: 'rsa-oaep-256' | 'ecdh-es';
}

export type { DataKey } from './release-session-client.ts';

export interface TlsAsset {
  cert: string;
  private_key: string;
  ca_cert: string;
}

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void;

const CODES = new Set(Object.keys((CmError as unknown as { codes: Record<string, string> }).codes));

function fromGrpcError(e: grpc.ServiceError): Error {
  const code = String(e.metadata?.get('x-error-code')?.[0] ?? '');
  const msg = (e.details ?? e.message).replace(/^[A-Z_]+: /, '');
  if (CODES.has(code)) return new CmError(code as never, msg);
  return new CmError('STORE_UNAVAILABLE', `capsule manager call failed: ${e.message}`, { cause: e });
}

export class CapsuleManagerClient {
  private readonly grpc: InstanceType<typeof GrpcClient>;
  private sessionRpc?: { call: SessionCall; close(): void };
  private cmKey?: KeyObject;
  private cmCert?: string;
  /** Verified claims of the CM's evidence after connect(). */
  cmClaims?: Claims;
  readonly partyId: string;

  constructor(private readonly opts: CapsuleManagerClientOptions) {
    this.grpc = new GrpcClient(opts.address, grpc.credentials.createInsecure());
    this.partyId = partyIdOfKey(createPublicKey(opts.signer.certChainPem[opts.signer.certChainPem.length - 1]!));
  }

  get cmCertPem(): string | undefined {
    return this.cmCert;
  }

  private call<T>(method: string, req: unknown): Promise<T> {
    const fn = (this.grpc as unknown as Record<string, Unary>)[method]!.bind(this.grpc);
    return new Promise((resolve, reject) =>
      fn(req, new grpc.Metadata(), { deadline: Date.now() + (this.opts.timeoutMs ?? 10_000) }, (e, r) => (e ? reject(fromGrpcError(e)) : resolve(r as T))),
    );
  }

  /** GetRaCert with a fresh nonce; verifies the CM's report (or the pinned cert). */
  async connect(): Promise<{ certPem: string; claims?: Claims }> {
    const nonce = randomBytes(16).toString('base64url');
    const resp = await this.call<GetRaCertResponse>('getRaCert', GetRaCertRequest.fromPartial({ nonce }));
    const json = GetRaCertResponse.toJSON(resp) as { cert?: string; attestation_report?: unknown };
    if ('pinnedCertPem' in this.opts.verify) {
      if (json.cert?.trim() !== this.opts.verify.pinnedCertPem.trim()) throw new CmError('CM_UNTRUSTED', 'the capsule manager certificate differs from the pinned one');
      this.cmCert = json.cert;
    } else {
      const v = this.opts.verify;
      const verifier = v.verifier ?? createEvidenceVerifier({ trustedSimKeys: v.trustedSimKeys ?? [] });
      const out = await verifyCapsuleManagerReport(json, nonce, { verifier, policy: v.policy });
      this.cmCert = out.certPem;
      this.cmClaims = out.claims;
    }
    this.cmKey = createPublicKey(this.cmCert!);
    if (this.opts.envelope === 'ecdh-es') {
      // The X25519 key is named inside the certificate the CM's evidence just bound.
      let named: ReturnType<typeof agreementKeysOfCert>;
      try {
        named = agreementKeysOfCert(this.cmCert!);
      } catch (cause) {
        throw new CmError('CM_UNTRUSTED', 'the capsule manager certificate carries a malformed key set extension', { cause });
      }
      if (!named.x25519) throw new CmError('UNSUPPORTED', 'envelope ecdh-es: the capsule manager certificate names no X25519 key (an older capsule manager); use envelope rsa-oaep-256');
      this.cmKey = named.x25519;
    }
    return { certPem: this.cmCert!, claims: this.cmClaims };
  }

  private async rpc<T>(method: string, request: unknown, signer: Signer = this.opts.signer, send?: (req: EncryptedRequest) => Promise<EncryptedResponse>): Promise<T> {
    if (!this.cmKey) await this.connect();
    const sealed = await sealRequest(request, this.cmKey!, signer);
    const req = EncryptedRequest.fromJSON({ message: sealed.message, has_signature: true });
    const resp = send ? await send(req) : await this.call<EncryptedResponse>(method, req);
    const jwe: JweJson = jweOfResponse(resp);
    return (await openResponse(jwe, signer.privateKey)) as T;
  }

  private sessions(): SessionCall {
    this.sessionRpc ??= sessionTransport(this.opts.address, this.opts.timeoutMs ?? 10_000, fromGrpcError);
    return this.sessionRpc.call;
  }

  /**
   * Opens an attested release session (aenv.capsule_manager.v1.ReleaseSessions):
   * this app's evidence, bound to SHA-256(cert "." "aenv-release-session-v1." nonce),
   * is verified once; the session's GetDataKeys then carry no evidence and cost
   * the CM no RSA or ECDH. The CM caps ttlSeconds (sessions.maxTtlSeconds).
   */
  async openReleaseSession(attester?: Attester, opts: { ttlSeconds?: number } = {}): Promise<ReleaseSession> {
    const cert = this.opts.signer.certChainPem[0]!;
    const freshness = { request_time: new Date().toISOString(), nonce: randomBytes(18).toString('base64url') };
    const body: Record<string, unknown> = { cert, freshness, ...(opts.ttlSeconds ? { ttl_seconds: opts.ttlSeconds } : {}) };
    if (attester) body.attestation_report = evidenceToUal(await attester.getEvidence(sessionBinding(cert, freshness.nonce)));
    const call = this.sessions();
    const r = await this.rpc<{ session_id?: string; session_key?: string; expires_at?: string; max_releases?: number }>('openReleaseSession', body, this.opts.signer, (req) => call('openReleaseSession', req));
    const key = Buffer.from(r.session_key ?? '', 'base64url');
    if (typeof r.session_id !== 'string' || key.length !== 32 || !r.expires_at || !Number.isFinite(Date.parse(r.expires_at))) throw new CmError('BAD_ENVELOPE', 'the capsule manager answered OpenReleaseSession without a session');
    return new ReleaseSession(call, r.session_id, key, new Date(r.expires_at), r.max_releases ?? 0);
  }

  /** One release session kept open for this app: opened on first use, replaced when it ends (ReleaseSessions). */
  releaseSessions(attester?: Attester, opts: { ttlSeconds?: number } = {}): ReleaseSessions {
    return new ReleaseSessions(() => this.openReleaseSession(attester, opts));
  }

  // Owner operations (signed by this party).
  registerCert(certs = this.opts.signer.certChainPem, scheme = 'RSA'): Promise<unknown> {
    return this.rpc('registerCert', { owner_party_id: this.partyId, certs, scheme });
  }
  createDataKeys(dataKeys: DataKey[]): Promise<unknown> {
    return this.rpc('createDataKeys', { owner_party_id: this.partyId, data_keys: dataKeys });
  }
  deleteDataKey(resourceUri: string): Promise<unknown> {
    return this.rpc('deleteDataKey', { owner_party_id: this.partyId, resource_uri: resourceUri });
  }
  createDataPolicy(policy: Policy, scope = ''): Promise<unknown> {
    return this.rpc('createDataPolicy', { owner_party_id: this.partyId, scope, policy });
  }
  async listDataPolicy(scope = ''): Promise<Policy[]> {
    return (await this.rpc<{ policies?: Policy[] }>('listDataPolicy', { owner_party_id: this.partyId, scope })).policies ?? [];
  }
  addDataRule(dataUuid: string, rule: Rule, scope = ''): Promise<unknown> {
    return this.rpc('addDataRule', { owner_party_id: this.partyId, data_uuid: dataUuid, scope, rule });
  }
  deleteDataRule(dataUuid: string, ruleId: string, scope = ''): Promise<unknown> {
    return this.rpc('deleteDataRule', { owner_party_id: this.partyId, data_uuid: dataUuid, scope, rule_id: ruleId });
  }
  deleteDataPolicy(dataUuid: string, scope = ''): Promise<unknown> {
    return this.rpc('deleteDataPolicy', { owner_party_id: this.partyId, data_uuid: dataUuid, scope });
  }

  // App operations (signed by the app's attested key; evidence from `attester`).
  private async attested(resourceRequest: ResourceRequest, attester: Attester | undefined): Promise<{ cert: string; attestation_report?: unknown; resource_request: unknown; freshness: { request_time: string; nonce: string } }> {
    const cert = this.opts.signer.certChainPem[0]!;
    const rr = ResourceRequestPb.toJSON(ResourceRequestPb.fromJSON(resourceRequest));
    // Inside the signed request: the CM refuses it outside its window or a second time.
    const freshness = { request_time: new Date().toISOString(), nonce: randomBytes(18).toString('base64url') };
    if (!attester) return { cert, resource_request: rr, freshness };
    const serialized = ResourceRequestPb.encode(ResourceRequestPb.fromJSON(rr)).finish();
    const evidence = await attester.getEvidence(certBinding(cert, serialized));
    return { cert, attestation_report: evidenceToUal(evidence), resource_request: rr, freshness };
  }

  async getDataKeys(resourceRequest: ResourceRequest, attester?: Attester): Promise<DataKey[]> {
    const r = await this.rpc<{ data_keys?: DataKey[] }>('getDataKeys', await this.attested(resourceRequest, attester));
    return r.data_keys ?? [];
  }

  async getTlsAsset(resourceRequest: ResourceRequest, attester?: Attester): Promise<TlsAsset> {
    const r = await this.rpc<{ tls_asset?: Partial<TlsAsset> }>('getTlsAsset', await this.attested(resourceRequest, attester));
    return { cert: r.tls_asset?.cert ?? '', private_key: r.tls_asset?.private_key ?? '', ca_cert: r.tls_asset?.ca_cert ?? '' };
  }

  async createResultDataKey(body: { owner_id?: string; resource_uri: string; scope?: string; data_key_b64: string; ancestor_uuids: string[] }, attester?: Attester): Promise<void> {
    const b = CreateResultDataKeyRequest_Body.toJSON(CreateResultDataKeyRequest_Body.fromJSON(body));
    const req: Record<string, unknown> = { body: b };
    if (attester) {
      const serialized = CreateResultDataKeyRequest_Body.encode(CreateResultDataKeyRequest_Body.fromJSON(b)).finish();
      req.attestation_report = evidenceToUal(await attester.getEvidence(createHash('sha256').update(serialized).digest()));
    }
    await this.rpc('createResultDataKey', req);
  }

  async getExportDataKey(resourceUri: string, dataExportCertificate: string): Promise<DataKey> {
    const r = await this.rpc<{ data_key?: DataKey }>('getExportDataKey', { request_party_id: this.partyId, resource_uri: resourceUri, data_export_certificate: dataExportCertificate });
    if (!r.data_key) throw new CmError('BAD_ENVELOPE', 'response carries no data key');
    return r.data_key;
  }

  close(): void {
    this.grpc.close();
    this.sessionRpc?.close();
  }
}

export { startCapsuleManager, type RunningCapsuleManager } from '../start.ts';
