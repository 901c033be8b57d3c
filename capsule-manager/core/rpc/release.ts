// Shared by the key-releasing RPCs (GetDataKeys, GetTlsAsset): the resource
// request's shape, the app's evidence check and the all-or-nothing policy
// evaluation. Refusals carry their audit record (the pipeline appends it).
import { Type, type Static } from '@sinclair/typebox';
import { ResourceRequest as ResourceRequestPb } from '../../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import type { Claims } from '../../../platforms/index.ts';
import type { AuditEvent } from '../../storage/audit-log.ts';
import { CmError } from '../../errors.ts';
import { teeEnv, verifyAppReport, type VerifiedApp } from '../attestation.ts';
import { certBinding } from '../envelope.ts';
import { checkScope, parseJsonObject, parseResourceUri, scopeOf, type ResourceRequest } from '../model.ts';
import { evaluatePolicy, type RequestView } from '../policy-evaluation.ts';
import { withAudit, type RpcContext } from './rpc.ts';

const OptString = Type.Optional(Type.Union([Type.String(), Type.Null()]));

export const ResourceRequestSchema = Type.Object({
  initiator_party_id: Type.String({ minLength: 1 }),
  scope: OptString,
  op_name: Type.String({ minLength: 1 }),
  env: OptString,
  global_attrs: OptString,
  resources: Type.Array(
    Type.Object({
      resource_uri: Type.String({ minLength: 1 }),
      columns: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
      attrs: OptString,
    }),
  ),
});

/** The body of GetDataKeys and GetTlsAsset. */
export const KeyReleaseSchema = Type.Object({
  cert: Type.String({ minLength: 1 }),
  resource_request: ResourceRequestSchema,
  attestation_report: Type.Optional(Type.Unknown()),
  /** Inside the signed request: when it was made and a nonce used once (aenv; Trustflow's clients send none). */
  freshness: Type.Optional(Type.Object({ request_time: Type.String({ minLength: 1 }), nonce: Type.String({ minLength: 1 }) })),
});
export type KeyReleaseBody = Static<typeof KeyReleaseSchema>;

/** The checked resource request with Trustflow's defaults ('' / []) filled in. */
export function resourceRequestOf(rr: KeyReleaseBody['resource_request']): ResourceRequest {
  if (rr.resources.length === 0 || rr.resources.length > 256) throw new CmError('INVALID_REQUEST', 'resource_request.resources must list 1..256 resources');
  return {
    initiator_party_id: rr.initiator_party_id,
    scope: rr.scope ?? '',
    op_name: rr.op_name,
    env: rr.env ?? '',
    global_attrs: rr.global_attrs ?? '',
    resources: rr.resources.map((r) => ({ resource_uri: r.resource_uri, columns: r.columns ?? [], attrs: r.attrs ?? '' })),
  };
}

export function targetOfRequest(rr: ResourceRequest): string {
  return rr.resources.map((r) => r.resource_uri).join(',');
}

const NONCE = /^[A-Za-z0-9_-]{22,128}$/;

/** Whom a refusal's audit record names besides the actor: the initiator (key releases) and the target. */
export interface AuditAbout {
  initiator?: string;
  target: string;
}

function refusalOf(e: Error, actor: string, action: string, about: AuditAbout): Error {
  return withAudit(e, { actor, ...(about.initiator ? { initiator: about.initiator } : {}), action, target: about.target, decision: 'deny', reasons: [e.message] });
}

type Freshness = NonNullable<KeyReleaseBody['freshness']>;

/**
 * A key release is fresh: its signed request names a time within the window
 * and a nonce (>= 16 random bytes, base64url) never seen before, recorded in
 * the store so a byte-identical replay, to this CM or another replica, is
 * refused. Without freshness: refused when required (a clear error for
 * clients that do not send it), else served as before.
 *
 * Checked in two steps so a refused request changes nothing: here the time,
 * the form and whether the nonce was seen (a read); `claim()` records the
 * nonce (an atomic create: of two concurrent copies one wins) once the request
 * has passed attestation and policy, just before anything is released.
 */
export async function checkFreshness(ctx: RpcContext, f: Freshness | undefined, action: string, actor: string, about: AuditAbout): Promise<{ claim(): Promise<void> }> {
  const refuse = (e: CmError): never => {
    throw refusalOf(e, actor, action, about);
  };
  if (!f) {
    if (ctx.freshness.required) refuse(new CmError('FRESHNESS_REQUIRED', `${action} must carry freshness {request_time, nonce} in the signed request (this capsule manager refuses replayable key releases; set freshness.required false to serve clients that cannot send it)`));
    return { claim: async () => undefined };
  }
  const t = Date.parse(f.request_time);
  const now = ctx.now().getTime();
  const windowMs = ctx.freshness.windowSeconds * 1000;
  if (!Number.isFinite(t) || !/^\d{4}-\d\d-\d\dT/.test(f.request_time)) refuse(new CmError('INVALID_REQUEST', 'freshness.request_time must be an RFC 3339 time'));
  if (Math.abs(now - t) > windowMs) refuse(new CmError('STALE_REQUEST', `freshness.request_time is ${Math.round((now - t) / 1000)} s from this capsule manager's clock; at most ${ctx.freshness.windowSeconds} s is accepted`));
  if (!NONCE.test(f.nonce)) refuse(new CmError('INVALID_REQUEST', 'freshness.nonce must be 22..128 base64url characters (16+ random bytes)'));
  // A nonce is remembered for two windows: its own and the next (clock skew both ways).
  const bucket = Math.floor(t / windowMs);
  const replayed = (e: unknown): never => {
    if (CmError.is(e, 'REPLAYED')) refuse(e as CmError);
    throw e;
  };
  await ctx.repo.checkNonce(actor, f.nonce, bucket).catch(replayed);
  return { claim: () => ctx.repo.claimNonce(actor, f.nonce, bucket).catch(replayed) };
}

/**
 * Verifies an app's evidence against `binding()` (computed only when a report
 * is there); without a report: refused when attestation is required, else no
 * claims (r.env.tee.platform "none"). A refusal carries its audit record.
 */
export async function attestApp(ctx: RpcContext, report: unknown, binding: () => Buffer, action: string, actor: string, about: AuditAbout): Promise<VerifiedApp | undefined> {
  try {
    const r = report as { json_report?: unknown } | undefined;
    if (!r || (typeof r === 'object' && !r.json_report)) {
      if (ctx.requireAttestation) throw new CmError('ATTESTATION_FAILED', 'attestation_report is required');
      return undefined;
    }
    return await verifyAppReport(r, binding(), ctx.verifier, ctx.appraisal);
  } catch (e) {
    throw refusalOf(e as Error, actor, action, about);
  }
}

/** The granted keys as GetDataKeysResponse.data_keys carries them. */
export function dataKeysOf(granted: Array<{ uri: string; key: Buffer }>): Array<{ resource_uri: string; data_key_b64: string }> {
  return granted.map((g) => ({ resource_uri: g.uri, data_key_b64: g.key.toString('base64') }));
}

/** Evaluates every resource, all or nothing: the granted keys and the allow record, or POLICY_DENIED with its deny record. */
export async function authorizeRelease(
  ctx: RpcContext,
  rr: ResourceRequest,
  claims: Claims | undefined,
  actor: string,
  action: string,
): Promise<{ granted: Array<{ uri: string; dataUuid: string; key: Buffer }>; audit: AuditEvent }> {
  const scope = scopeOf(rr.scope);
  checkScope(scope);
  const clientEnv = parseJsonObject(rr.env, 'env');
  // tee and request_time come from the server, never from the client.
  const env = { ...clientEnv, request_time: ctx.now().toISOString(), tee: teeEnv(claims) };
  const globalAttrs = parseJsonObject(rr.global_attrs, 'global_attrs');
  const granted: Array<{ uri: string; dataUuid: string; key: Buffer }> = [];
  const denials: Array<{ resource_uri: string; reasons: string[] }> = [];
  // Every read this release needs is issued at once: against the NATS store's
  // mirror they then share one read barrier (and on the KV, one round trip).
  const uuids = rr.resources.map((res) => parseResourceUri(res.resource_uri).dataUuid);
  const [keys, policies] = await Promise.all([
    Promise.all(rr.resources.map((res) => ctx.repo.getDataKey(res.resource_uri))),
    Promise.all(uuids.map((uuid) => ctx.repo.getPolicy(scope, uuid))),
  ]);
  for (const [i, res] of rr.resources.entries()) {
    const dataUuid = uuids[i]!;
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
    const key = keys[i];
    if (!key) {
      denials.push({ resource_uri: res.resource_uri, reasons: ['no data key is registered for this resource'] });
      continue;
    }
    const decision = evaluatePolicy(policies[i]?.policy, view);
    if (!decision.allowed) denials.push({ resource_uri: res.resource_uri, reasons: decision.reasons });
    else granted.push({ uri: res.resource_uri, dataUuid, key: key.key });
  }
  const target = targetOfRequest(rr);
  if (denials.length) {
    const text = denials.map((d) => `${d.resource_uri}: ${d.reasons.join('; ')}`).join(' | ');
    throw withAudit(new CmError('POLICY_DENIED', `request is not satisfied with the policy: ${text}`, { details: { denials } }), {
      actor,
      initiator: rr.initiator_party_id,
      action,
      target,
      decision: 'deny',
      reasons: denials.flatMap((d) => d.reasons.map((r) => `${d.resource_uri}: ${r}`)),
    });
  }
  return { granted, audit: { actor, initiator: rr.initiator_party_id, action, target, decision: 'allow' } };
}

/**
 * Every key release's checks, in their order: freshness (time, form, nonce not
 * seen), the app's evidence, then every resource's rules. `claim()` records the
 * nonce: the handler calls it after its own last check, just before it releases
 * anything, so a refused request consumes nothing.
 */
export async function checkRelease(
  ctx: RpcContext,
  body: KeyReleaseBody,
  rr: ResourceRequest,
  action: string,
  signerPartyId: string,
): Promise<{ app: VerifiedApp | undefined; granted: Array<{ uri: string; dataUuid: string; key: Buffer }>; audit: AuditEvent; claim(): Promise<void> }> {
  const about = { initiator: rr.initiator_party_id, target: targetOfRequest(rr) };
  const fresh = await checkFreshness(ctx, body.freshness, action, signerPartyId, about);
  // The evidence binds SHA-256(cert "." serialized ResourceRequest): this request's resources.
  const binding = () => certBinding(body.cert, ResourceRequestPb.encode(ResourceRequestPb.fromJSON(body.resource_request)).finish());
  const app = await attestApp(ctx, body.attestation_report, binding, action, signerPartyId, about);
  const { granted, audit } = await authorizeRelease(ctx, rr, app?.claims, `${rr.initiator_party_id} via ${signerPartyId}`, action);
  return { app, granted, audit, claim: fresh.claim };
}
