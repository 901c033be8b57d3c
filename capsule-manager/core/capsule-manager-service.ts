// The capsule manager's operations, transport-agnostic: both the gRPC service
// and the HTTP JSON API hand every EncryptedRequest (proto JSON form) to
// `handle(rpc, request)` and send back what it returns. Here: envelope
// opening, signer/owner checks, attested key release, lineage, export votes,
// audit. Requests and responses are the snake_case JSON of secretflowapis v2.
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { CreateResultDataKeyRequest_Body, ResourceRequest as ResourceRequestPb } from '../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { evidenceToUal } from '../../platforms/index.ts';
import type { AppraisalPolicy, Attester, Claims, EvidenceVerifier } from '../../platforms/index.ts';
import { deriveSharedGroupAsset, GROUP_OP, issueGroupTlsAsset } from '../../tls-groups/index.ts';
import type { AuditLog } from '../storage/audit-log.ts';
import { certBinding, openRequest, sealResponse, type JweJson, type VerifiedSigner } from './envelope.ts';
import { checkExportVotes } from './export-votes.ts';
import { deriveResultPolicy, originalOwners } from './lineage.ts';
import { checkDataUuid, checkScope, normalizePolicy, normalizeRule, parseJsonObject, parseResourceUri, scopeOf, type Policy, type ResourceRequest } from './model.ts';
import { parseCert, partyIdOfCert, partyIdOfKey, publicKeyOfPem } from './party-id.ts';
import { evaluatePolicy, type RequestView } from './policy-evaluation.ts';
import { CmError } from '../errors.ts';
import { teeEnv, verifyAppReport, type VerifiedApp } from './attestation.ts';
import type { Repository } from './repository.ts';
import { VERIFICATION_CODES, type ServiceObserver } from './observer.ts';

export const ENCRYPTED_RPCS = [
  'RegisterCert',
  'CreateDataKeys',
  'DeleteDataKey',
  'CreateDataPolicy',
  'ListDataPolicy',
  'AddDataRule',
  'DeleteDataRule',
  'DeleteDataPolicy',
  'GetDataKeys',
  'GetTlsAsset',
  'CreateResultDataKey',
  'GetExportDataKey',
] as const;
export type EncryptedRpc = (typeof ENCRYPTED_RPCS)[number];

export interface CmIdentity {
  privateKey: KeyObject;
  certPem: string;
  partyId: string;
}

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
  /** Metrics hook (capsule-manager/metrics.ts); absent = nothing observed. */
  observer?: ServiceObserver;
  now?: () => Date;
}

/** Bounds of a certified group leaf's lifetime asked for in global_attrs.validity_seconds. */
export const TLS_VALIDITY_MIN_SECONDS = 60;
export const TLS_VALIDITY_MAX_SECONDS = 24 * 3600;

export interface EncryptedRequestJson {
  header?: unknown;
  message?: JweJson;
  has_signature?: boolean;
}
export interface EncryptedResponseJson {
  status: { code: number; message: string };
  message?: JweJson;
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CmError('INVALID_REQUEST', `${what} must be an object`);
  return v as Obj;
}
function str(o: Obj, k: string, required = true): string {
  const v = o[k];
  if (v === undefined || v === null || v === '') {
    if (required) throw new CmError('INVALID_REQUEST', `${k} is required`);
    return '';
  }
  if (typeof v !== 'string') throw new CmError('INVALID_REQUEST', `${k} must be a string`);
  return v;
}
function strList(o: Obj, k: string): string[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new CmError('INVALID_REQUEST', `${k} must be a list of strings`);
  return v as string[];
}
function dataKeyBytes(b64: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new CmError('INVALID_REQUEST', `${what} must be standard base64`);
  const k = Buffer.from(b64, 'base64');
  if (![16, 24, 32].includes(k.length)) throw new CmError('INVALID_REQUEST', `${what} must be a 16, 24 or 32-byte key`);
  return k;
}

function resourceRequestOf(v: unknown): ResourceRequest {
  const o = obj(v, 'resource_request');
  const resources = o.resources;
  if (!Array.isArray(resources) || resources.length === 0 || resources.length > 256) throw new CmError('INVALID_REQUEST', 'resource_request.resources must list 1..256 resources');
  return {
    initiator_party_id: str(o, 'initiator_party_id'),
    scope: str(o, 'scope', false),
    op_name: str(o, 'op_name'),
    env: str(o, 'env', false),
    global_attrs: str(o, 'global_attrs', false),
    resources: resources.map((r) => {
      const ro = obj(r, 'resource');
      return { resource_uri: str(ro, 'resource_uri'), columns: strList(ro, 'columns'), attrs: str(ro, 'attrs', false) };
    }),
  };
}

export class CapsuleManagerService {
  private readonly now: () => Date;
  constructor(private readonly o: CapsuleManagerServiceOptions) {
    this.now = o.now ?? (() => new Date());
  }

  get certPem(): string {
    return this.o.identity.certPem;
  }

  /** GetRaCert: the CM's certificate and its own evidence bound to SHA-256(cert "." nonce). */
  async getRaCert(req: { nonce?: string }): Promise<{ status: { code: number; message: string }; cert: string; attestation_report?: ReturnType<typeof evidenceToUal> }> {
    return this.observed('GetRaCert', () => this.raCert(req));
  }

  /** Every encrypted RPC: open, authorize, act, audit, seal the response. */
  async handle(rpc: EncryptedRpc, req: EncryptedRequestJson): Promise<EncryptedResponseJson> {
    // rpc comes from the transports' fixed list; anything else is one bounded label.
    return this.observed(ENCRYPTED_RPCS.includes(rpc) ? rpc : 'unknown', () => this.handleEncrypted(rpc, req));
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

  private async handleEncrypted(rpc: EncryptedRpc, req: EncryptedRequestJson): Promise<EncryptedResponseJson> {
    if (!ENCRYPTED_RPCS.includes(rpc)) throw new CmError('INVALID_REQUEST', `unknown operation ${String(rpc)}`);
    const { request, signer } = await openRequest(req.message, req.has_signature === true, this.o.identity.privateKey, this.now());
    const body = obj(request, 'request');
    let recipient: KeyObject | undefined = signer?.leafKey;
    let response: unknown;
    const actor = signer?.partyId ?? 'anonymous';
    try {
      switch (rpc) {
        case 'GetDataKeys':
        case 'GetTlsAsset': {
          const s = this.requireSigner(signer);
          const cert = str(body, 'cert');
          recipient = publicKeyOfPem(cert);
          // The signer must hold the private key of the attested cert.
          if (!s.leafKey.equals(recipient)) throw new CmError('BAD_SIGNATURE', 'the request is not signed with the key of `cert`');
          response = rpc === 'GetDataKeys' ? await this.getDataKeys(body, cert, actor) : await this.getTlsAsset(body, cert, s);
          break;
        }
        case 'RegisterCert':
          response = await this.registerCert(body, this.requireSigner(signer));
          break;
        case 'CreateDataKeys':
          response = await this.createDataKeys(body, this.requireOwner(body, signer));
          break;
        case 'DeleteDataKey':
          response = await this.deleteDataKey(body, this.requireOwner(body, signer));
          break;
        case 'CreateDataPolicy':
          response = await this.createDataPolicy(body, await this.requireRegisteredOwner(body, signer));
          break;
        case 'ListDataPolicy':
          response = await this.listDataPolicy(body, this.requireOwner(body, signer));
          break;
        case 'AddDataRule':
          response = await this.addDataRule(body, await this.requireRegisteredOwner(body, signer));
          break;
        case 'DeleteDataRule':
          response = await this.deleteDataRule(body, this.requireOwner(body, signer));
          break;
        case 'DeleteDataPolicy':
          response = await this.deleteDataPolicy(body, this.requireOwner(body, signer));
          break;
        case 'CreateResultDataKey':
          response = await this.createResultDataKey(body, this.requireSigner(signer));
          break;
        case 'GetExportDataKey':
          response = await this.getExportDataKey(body, this.requireSigner(signer));
          break;
      }
    } catch (e) {
      if (e instanceof CmError && rpc !== 'GetDataKeys' && rpc !== 'GetTlsAsset' && rpc !== 'GetExportDataKey') {
        await this.o.audit.append({ actor, action: rpc, target: targetOf(body), decision: e.kind === 'permission_denied' ? 'deny' : 'error', reasons: [e.message] });
      }
      throw e;
    }
    if (!recipient) throw new CmError('SIGNATURE_REQUIRED', `${rpc} must be signed`);
    return { status: { code: 0, message: 'success' }, message: await sealResponse(response ?? {}, recipient) };
  }

  private requireSigner(s: VerifiedSigner | undefined): VerifiedSigner {
    if (!s) throw new CmError('SIGNATURE_REQUIRED', 'this operation needs a signed request (has_signature with a JWS carrying x5c)');
    return s;
  }

  private requireOwner(body: Obj, s: VerifiedSigner | undefined): string {
    const signer = this.requireSigner(s);
    const owner = str(body, 'owner_party_id');
    if (owner !== signer.partyId) throw new CmError('NOT_OWNER', 'owner_party_id is not the party that signed the request');
    return owner;
  }

  private async requireRegisteredOwner(body: Obj, s: VerifiedSigner | undefined): Promise<string> {
    const owner = this.requireOwner(body, s);
    if (!(await this.o.repo.getParty(owner))) throw new CmError('UNKNOWN_PARTY', 'register the owner certificate first (RegisterCert)');
    return owner;
  }

  private async registerCert(body: Obj, signer: VerifiedSigner): Promise<unknown> {
    const owner = str(body, 'owner_party_id');
    const certs = strList(body, 'certs');
    const scheme = str(body, 'scheme', false) || 'RSA';
    if (scheme !== 'RSA') throw new CmError('UNSUPPORTED', `scheme ${scheme} is not supported (RSA only)`);
    if (certs.length === 0 || certs.length > 8) throw new CmError('INVALID_REQUEST', 'certs must hold 1..8 PEM certificates');
    if (owner !== signer.partyId) throw new CmError('NOT_OWNER', 'owner_party_id is not the party that signed the request');
    const chain = certs.map((c) => parseCert(c));
    for (let i = 0; i + 1 < chain.length; i++) if (!chain[i]!.verify(chain[i + 1]!.publicKey)) throw new CmError('INVALID_CERT', `certs[${i}] is not signed by certs[${i + 1}]`);
    if (partyIdOfCert(certs[certs.length - 1]!) !== owner) throw new CmError('NOT_OWNER', 'the registered certificate chain does not belong to owner_party_id');
    await this.o.repo.putParty(owner, { certs, scheme });
    await this.o.audit.append({ actor: owner, action: 'RegisterCert', target: owner, decision: 'ok' });
    return {};
  }

  private async createDataKeys(body: Obj, owner: string): Promise<unknown> {
    if (!(await this.o.repo.getParty(owner))) throw new CmError('UNKNOWN_PARTY', 'register the owner certificate first (RegisterCert)');
    const keys = body.data_keys;
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > 1024) throw new CmError('INVALID_REQUEST', 'data_keys must hold 1..1024 keys');
    // Validate everything before writing anything.
    const parsed = keys.map((k) => {
      const o = obj(k, 'data_key');
      const uri = str(o, 'resource_uri');
      const { dataUuid } = parseResourceUri(uri);
      return { uri, dataUuid, key: dataKeyBytes(str(o, 'data_key_b64'), `data key of ${uri}`) };
    });
    const uris = new Set(parsed.map((p) => p.uri));
    if (uris.size !== parsed.length) throw new CmError('INVALID_REQUEST', 'data_keys lists a resource_uri twice');
    for (const p of parsed) {
      const ds = await this.o.repo.getDataset(p.dataUuid);
      if (ds && ds.owner_party_id !== owner) throw new CmError('NOT_OWNER', `data ${p.dataUuid} belongs to another party`);
      if (await this.o.repo.hasDataKey(p.uri)) throw new CmError('ALREADY_EXISTS', `a data key for ${p.uri} already exists`);
    }
    // All or nothing: undo this request's keys if a concurrent writer wins one of them.
    const created: string[] = [];
    try {
      for (const p of parsed) {
        await this.o.repo.claimDataset(p.dataUuid, owner);
        await this.o.repo.createDataKey(p.uri, owner, p.key);
        created.push(p.uri);
      }
    } catch (e) {
      for (const uri of created) await this.o.repo.deleteDataKey(uri, owner).catch(() => undefined);
      throw e;
    }
    for (const uri of created) await this.o.audit.append({ actor: owner, action: 'CreateDataKeys', target: uri, decision: 'ok' });
    return {};
  }

  private async deleteDataKey(body: Obj, owner: string): Promise<unknown> {
    const uri = str(body, 'resource_uri');
    parseResourceUri(uri);
    await this.o.repo.deleteDataKey(uri, owner);
    await this.o.audit.append({ actor: owner, action: 'DeleteDataKey', target: uri, decision: 'ok' });
    return {};
  }

  private scope(body: Obj): string {
    const s = scopeOf(str(body, 'scope', false));
    checkScope(s);
    return s;
  }

  private async createDataPolicy(body: Obj, owner: string): Promise<unknown> {
    const scope = this.scope(body);
    const policy = normalizePolicy(obj(body.policy, 'policy') as Partial<Policy>);
    await this.o.repo.claimDataset(policy.data_uuid, owner);
    await this.o.repo.modifyPolicy(scope, policy.data_uuid, () => ({ owner_party_id: owner, policy }));
    await this.o.audit.append({ actor: owner, action: 'CreateDataPolicy', target: `${scope}/${policy.data_uuid}`, decision: 'ok' });
    return {};
  }

  private async listDataPolicy(body: Obj, owner: string): Promise<unknown> {
    const scope = this.scope(body);
    const policies = (await this.o.repo.listPolicies(scope)).filter((p) => p.owner_party_id === owner).map((p) => p.policy);
    return { policies };
  }

  private async addDataRule(body: Obj, owner: string): Promise<unknown> {
    const scope = this.scope(body);
    const uuid = str(body, 'data_uuid');
    checkDataUuid(uuid);
    const rule = normalizeRule(obj(body.rule, 'rule'));
    await this.o.repo.claimDataset(uuid, owner);
    await this.o.repo.modifyPolicy(scope, uuid, (cur) => {
      if (cur && cur.owner_party_id !== owner) throw new CmError('NOT_OWNER', `policy of ${uuid} belongs to another party`);
      const rules = cur?.policy.rules ?? [];
      if (rules.some((r) => r.rule_id === rule.rule_id)) throw new CmError('ALREADY_EXISTS', `rule ${rule.rule_id} already exists`);
      return { owner_party_id: owner, policy: { data_uuid: uuid, rules: [...rules, rule] } };
    });
    await this.o.audit.append({ actor: owner, action: 'AddDataRule', target: `${scope}/${uuid}/${rule.rule_id}`, decision: 'ok' });
    return {};
  }

  private async deleteDataRule(body: Obj, owner: string): Promise<unknown> {
    const scope = this.scope(body);
    const uuid = str(body, 'data_uuid');
    const ruleId = str(body, 'rule_id');
    await this.o.repo.modifyPolicy(scope, uuid, (cur) => {
      if (!cur || !cur.policy.rules.some((r) => r.rule_id === ruleId)) throw new CmError('NOT_FOUND', `no rule ${ruleId} on ${uuid}`);
      if (cur.owner_party_id !== owner) throw new CmError('NOT_OWNER', `policy of ${uuid} belongs to another party`);
      return { ...cur, policy: { ...cur.policy, rules: cur.policy.rules.filter((r) => r.rule_id !== ruleId) } };
    });
    await this.o.audit.append({ actor: owner, action: 'DeleteDataRule', target: `${scope}/${uuid}/${ruleId}`, decision: 'ok' });
    return {};
  }

  private async deleteDataPolicy(body: Obj, owner: string): Promise<unknown> {
    const scope = this.scope(body);
    const uuid = str(body, 'data_uuid');
    await this.o.repo.modifyPolicy(scope, uuid, (cur) => {
      if (!cur) throw new CmError('NOT_FOUND', `no policy for ${uuid} in scope ${scope}`);
      if (cur.owner_party_id !== owner) throw new CmError('NOT_OWNER', `policy of ${uuid} belongs to another party`);
      return undefined;
    });
    await this.o.audit.append({ actor: owner, action: 'DeleteDataPolicy', target: `${scope}/${uuid}`, decision: 'ok' });
    return {};
  }

  /** Verifies the app's evidence (binding SHA-256(cert "." serialized ResourceRequest)). */
  private async attest(body: Obj, cert: string, rr: unknown): Promise<VerifiedApp | undefined> {
    const report = body.attestation_report;
    if (!report || (typeof report === 'object' && !(report as Obj).json_report)) {
      if (this.o.requireAttestation !== false) throw new CmError('ATTESTATION_FAILED', 'attestation_report is required');
      return undefined;
    }
    const serialized = ResourceRequestPb.encode(ResourceRequestPb.fromJSON(rr)).finish();
    return verifyAppReport(report, certBinding(cert, serialized), this.o.verifier, this.o.appraisal);
  }

  /** Evaluates every resource; all-or-nothing. Returns the granted keys. */
  private async authorize(rr: ResourceRequest, claims: Claims | undefined, actor: string, action: string): Promise<Array<{ uri: string; dataUuid: string; key: Buffer }>> {
    const scope = scopeOf(rr.scope);
    checkScope(scope);
    const clientEnv = parseJsonObject(rr.env, 'env');
    // tee and request_time come from the server, never from the client.
    const env = { ...clientEnv, request_time: this.now().toISOString(), tee: teeEnv(claims) };
    const globalAttrs = parseJsonObject(rr.global_attrs, 'global_attrs');
    const granted: Array<{ uri: string; dataUuid: string; key: Buffer }> = [];
    const denials: Array<{ resource_uri: string; reasons: string[] }> = [];
    for (const res of rr.resources) {
      const { dataUuid } = parseResourceUri(res.resource_uri);
      const view: RequestView = {
        resource_uri: res.resource_uri,
        columns: res.columns,
        initiator_party_id: rr.initiator_party_id,
        scope,
        op_name: rr.op_name,
        env,
        attrs: parseJsonObject(res.attrs, 'attrs'),
        global_attrs: globalAttrs,
      };
      const key = await this.o.repo.getDataKey(res.resource_uri);
      if (!key) {
        denials.push({ resource_uri: res.resource_uri, reasons: ['no data key is registered for this resource'] });
        continue;
      }
      const decision = evaluatePolicy((await this.o.repo.getPolicy(scope, dataUuid))?.policy, view);
      if (!decision.allowed) denials.push({ resource_uri: res.resource_uri, reasons: decision.reasons });
      else granted.push({ uri: res.resource_uri, dataUuid, key: key.key });
    }
    const target = rr.resources.map((r) => r.resource_uri).join(',');
    if (denials.length) {
      await this.o.audit.append({ actor, initiator: rr.initiator_party_id, action, target, decision: 'deny', reasons: denials.flatMap((d) => d.reasons.map((r) => `${d.resource_uri}: ${r}`)) });
      const text = denials.map((d) => `${d.resource_uri}: ${d.reasons.join('; ')}`).join(' | ');
      throw new CmError('POLICY_DENIED', `request is not satisfied with the policy: ${text}`, { details: { denials } });
    }
    await this.o.audit.append({ actor, initiator: rr.initiator_party_id, action, target, decision: 'allow' });
    return granted;
  }

  private async getDataKeys(body: Obj, cert: string, signerParty: string): Promise<unknown> {
    const rrJson = body.resource_request;
    const rr = resourceRequestOf(rrJson);
    let app: VerifiedApp | undefined;
    try {
      app = await this.attest(body, cert, rrJson);
    } catch (e) {
      await this.o.audit.append({ actor: signerParty, initiator: rr.initiator_party_id, action: 'GetDataKeys', target: rr.resources.map((r) => r.resource_uri).join(','), decision: 'deny', reasons: [(e as Error).message] });
      throw e;
    }
    const granted = await this.authorize(rr, app?.claims, `${rr.initiator_party_id} via ${signerParty}`, 'GetDataKeys');
    this.o.observer?.keysReleased('GetDataKeys', granted.length);
    return { data_keys: granted.map((g) => ({ resource_uri: g.uri, data_key_b64: g.key.toString('base64') })), cert: this.certPem };
  }

  private async getTlsAsset(body: Obj, cert: string, signer: VerifiedSigner): Promise<unknown> {
    const rrJson = body.resource_request;
    const rr = resourceRequestOf(rrJson);
    const target = rr.resources.map((r) => r.resource_uri).join(',');
    // The leaf names initiator_party_id as its party: the certified identity
    // must be the signer's own (the party id of the JWS x5c leaf key, which
    // is also the attested `cert`), never a party the signer merely claims to
    // act for. Checked before anything else so no evidence is even looked at.
    const signerLeafParty = partyIdOfKey(signer.leafKey);
    if (rr.initiator_party_id !== signerLeafParty) {
      const reason = `GetTlsAsset: initiator_party_id ${rr.initiator_party_id} is not the signer's party id ${signerLeafParty}; a group TLS asset certifies the signer only`;
      await this.o.audit.append({ actor: signer.partyId, initiator: rr.initiator_party_id, action: 'GetTlsAsset', target, decision: 'deny', reasons: [reason] });
      throw new CmError('INITIATOR_MISMATCH', reason);
    }
    if (rr.op_name !== GROUP_OP) throw new CmError('INVALID_REQUEST', `GetTlsAsset needs op_name "${GROUP_OP}"`);
    if (rr.resources.length !== 1) throw new CmError('INVALID_REQUEST', 'GetTlsAsset takes exactly one resource (the group data key)');
    const globalAttrs = parseJsonObject(rr.global_attrs, 'global_attrs');
    const subject = globalAttrs.subject_public_key_pem;
    const wantsLeaf = typeof subject === 'string' && subject.length > 0;
    const validitySeconds = validityOf(globalAttrs.validity_seconds, wantsLeaf);
    let app: VerifiedApp | undefined;
    try {
      app = await this.attest(body, cert, rrJson);
    } catch (e) {
      await this.o.audit.append({ actor: signer.partyId, initiator: rr.initiator_party_id, action: 'GetTlsAsset', target, decision: 'deny', reasons: [(e as Error).message] });
      throw e;
    }
    const [g] = await this.authorize(rr, app?.claims, `${rr.initiator_party_id} via ${signer.partyId}`, 'GetTlsAsset');
    const scope = scopeOf(rr.scope);
    if (wantsLeaf) {
      // The app's own key is certified; its private key never leaves the app.
      if (!app) throw new CmError('ATTESTATION_FAILED', 'a certified group leaf needs verified evidence');
      const a = await issueGroupTlsAsset({
        dataKey: g!.key,
        scope,
        dataUuid: g!.dataUuid,
        partyId: rr.initiator_party_id,
        subjectPublicKeyPem: subject,
        claims: app.claims,
        evidenceDigest: app.evidenceDigest,
        ...(validitySeconds !== undefined ? { validitySeconds } : {}),
        now: this.now(),
      });
      this.o.observer?.tlsAssetIssued('leaf');
      return { tls_asset: { cert: a.leafCertPem, private_key: '', ca_cert: a.caCertPem } };
    }
    // Trustflow's shared form: the group key itself, sealed to the attested cert by the response JWE.
    const s = await deriveSharedGroupAsset({ dataKey: g!.key, scope, dataUuid: g!.dataUuid });
    this.o.observer?.tlsAssetIssued('shared');
    return { tls_asset: { cert: s.certPem, private_key: s.privateKeyPem, ca_cert: s.caCertPem } };
  }

  private async createResultDataKey(body: Obj, signer: VerifiedSigner): Promise<unknown> {
    const b = obj(body.body, 'body');
    const uri = str(b, 'resource_uri');
    const { dataUuid } = parseResourceUri(uri);
    const scope = scopeOf(str(b, 'scope', false));
    checkScope(scope);
    const key = dataKeyBytes(str(b, 'data_key_b64'), 'data_key_b64');
    const ancestors = [...new Set(strList(b, 'ancestor_uuids'))];
    if (ancestors.length === 0 || ancestors.length > 256) throw new CmError('INVALID_REQUEST', 'ancestor_uuids must list 1..256 datasets');
    // A result comes from a TEE: its evidence binds SHA-256(serialized body).
    const report = body.attestation_report;
    if (report && (report as Obj).json_report) {
      const serialized = CreateResultDataKeyRequest_Body.encode(CreateResultDataKeyRequest_Body.fromJSON(b)).finish();
      await verifyAppReport(report, createHash('sha256').update(serialized).digest(), this.o.verifier, this.o.appraisal);
    } else if (this.o.requireAttestation !== false) {
      throw new CmError('ATTESTATION_FAILED', 'attestation_report is required');
    }
    const ancestorPolicies: Policy[] = [];
    for (const a of ancestors) {
      if (!(await this.o.repo.getDataset(a))) throw new CmError('NOT_FOUND', `ancestor ${a} is unknown`);
      ancestorPolicies.push((await this.o.repo.getPolicy(scope, a))?.policy ?? { data_uuid: a, rules: [] });
    }
    const owner = str(b, 'owner_id', false) || signer.partyId;
    if (await this.o.repo.getDataset(dataUuid)) throw new CmError('ALREADY_EXISTS', `data ${dataUuid} already exists`);
    if (await this.o.repo.hasDataKey(uri)) throw new CmError('ALREADY_EXISTS', `a data key for ${uri} already exists`);
    await this.o.repo.createResultDataset(dataUuid, { owner_party_id: owner, ancestor_uuids: ancestors, scope });
    await this.o.repo.createDataKey(uri, owner, key);
    const policy = deriveResultPolicy(dataUuid, ancestorPolicies);
    // Derived policies belong to the capsule manager: no party can loosen them.
    await this.o.repo.modifyPolicy(scope, dataUuid, () => ({ owner_party_id: this.o.identity.partyId, policy }));
    await this.o.audit.append({ actor: signer.partyId, action: 'CreateResultDataKey', target: `${uri} <- ${ancestors.join(',')}`, decision: 'ok' });
    return {};
  }

  private async getExportDataKey(body: Obj, signer: VerifiedSigner): Promise<unknown> {
    const requester = str(body, 'request_party_id');
    const uri = str(body, 'resource_uri');
    const { dataUuid } = parseResourceUri(uri);
    if (requester !== signer.partyId) throw new CmError('NOT_OWNER', 'request_party_id is not the party that signed the request');
    const deny = async (reasons: string[]): Promise<never> => {
      await this.o.audit.append({ actor: requester, action: 'GetExportDataKey', target: uri, decision: 'deny', reasons });
      throw new CmError('EXPORT_DENIED', `export of ${uri} denied: ${reasons.join('; ')}`, { details: { reasons } });
    };
    const key = await this.o.repo.getDataKey(uri);
    if (!key) await deny(['no data key is registered for this resource']);
    const { owners, missing } = await originalOwners(dataUuid, (u) => this.o.repo.getDataset(u));
    if (missing.length) await deny([`lineage is incomplete (unknown: ${missing.join(', ')})`]);
    const d = await checkExportVotes(str(body, 'data_export_certificate'), { owners, requestPartyId: requester, resourceUri: uri, now: this.now() });
    if (!d.allowed) await deny(d.reasons);
    await this.o.audit.append({ actor: requester, action: 'GetExportDataKey', target: uri, decision: 'allow' });
    this.o.observer?.keysReleased('GetExportDataKey', 1);
    return { data_key: { resource_uri: uri, data_key_b64: key!.key.toString('base64') } };
  }
}

/** global_attrs.validity_seconds: an integer in [60 s, 24 h], only for a certified leaf. */
function validityOf(v: unknown, leaf: boolean): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!leaf) throw new CmError('INVALID_REQUEST', 'global_attrs.validity_seconds applies to a certified leaf only (set subject_public_key_pem)');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < TLS_VALIDITY_MIN_SECONDS || v > TLS_VALIDITY_MAX_SECONDS) {
    throw new CmError('INVALID_REQUEST', `global_attrs.validity_seconds must be an integer from ${TLS_VALIDITY_MIN_SECONDS} to ${TLS_VALIDITY_MAX_SECONDS}`);
  }
  return v;
}

function targetOf(body: Obj): string {
  for (const k of ['resource_uri', 'data_uuid', 'owner_party_id']) if (typeof body[k] === 'string') return body[k] as string;
  return '';
}

/** A fresh random data key (16 bytes, AES-128-GCM as Trustflow's .enc default). */
export function newDataKey(bytes = 16): Buffer {
  return randomBytes(bytes);
}
