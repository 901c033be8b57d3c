// Runs one encrypted RPC: open the envelope (JWE, JWS) -> validate the body
// against the RPC's schema -> authorize by its auth kind -> handle -> audit
// (the outcome's records, durable before the answer) -> seal the response to
// the caller's key. An RPC inside a release session runs the same steps with
// the session as its envelope and caller (runInSession). Every audit record of
// the CM is appended here.
import { CmError } from '../../errors.ts';
import type { AuditLog } from '../../storage/audit-log.ts';
import { openRequest, sealResponse, type JweJson, type VerifiedSigner } from '../envelope.ts';
import { publicKeyOfPem } from '../party-id.ts';
import { checkRequest } from './request-schema.ts';
import { auditOf, type Caller, type RpcContext, type RpcDef, type SessionRpcDef } from './rpc.ts';
import { openSessionMessage, sealSessionMessage, sessionHeaderOf } from '../session/envelope.ts';

export interface EncryptedRequestJson {
  header?: unknown;
  message?: JweJson;
  has_signature?: boolean;
}
export interface EncryptedResponseJson {
  status: { code: number; message: string };
  message?: JweJson;
}

function requireSigner(s: VerifiedSigner | undefined): VerifiedSigner {
  if (!s) throw new CmError('SIGNATURE_REQUIRED', 'this operation needs a signed request (has_signature with a JWS carrying x5c)');
  return s;
}

async function authorize(ctx: RpcContext, def: RpcDef, body: Record<string, unknown>, signer: VerifiedSigner | undefined): Promise<Caller> {
  const s = requireSigner(signer);
  switch (def.auth) {
    case 'signer':
      return { signer: s };
    case 'owner':
    case 'registered-owner': {
      const owner = body.owner_party_id as string;
      if (owner !== s.partyId) throw new CmError('NOT_OWNER', 'owner_party_id is not the party that signed the request');
      if (def.auth === 'registered-owner' && !(await ctx.repo.getParty(owner))) throw new CmError('UNKNOWN_PARTY', 'register the owner certificate first (RegisterCert)');
      return { signer: s, owner };
    }
    case 'attested-app': {
      const cert = body.cert as string;
      // The signer must hold the private key of the attested cert.
      if (!s.leafKey.equals(publicKeyOfPem(cert))) throw new CmError('BAD_SIGNATURE', 'the request is not signed with the key of `cert`');
      return { signer: s, cert };
    }
  }
}

/** The audit target of a refused request: what the body names first. */
function targetOf(body: Record<string, unknown>): string {
  for (const k of ['resource_uri', 'data_uuid', 'owner_party_id']) if (typeof body[k] === 'string') return body[k] as string;
  return '';
}

export async function runEncrypted(ctx: RpcContext, audit: AuditLog, def: RpcDef, req: EncryptedRequestJson): Promise<EncryptedResponseJson> {
  const { privateKey: rsa, x25519, p256 } = ctx.identity;
  const { request, signer } = await openRequest(req.message, req.has_signature === true, { rsa, x25519, p256 }, ctx.now());
  if (!request || typeof request !== 'object' || Array.isArray(request)) throw new CmError('INVALID_REQUEST', 'request must be an object');
  const body = request as Record<string, unknown>;
  try {
    checkRequest(def.schema, body);
    const caller = await authorize(ctx, def, body, signer);
    const result = await def.handle(ctx, body as never, caller);
    for (const e of result.audit) await audit.append(e);
    // Answers go to the key that signed (attested-app: the attested cert's key, the same key).
    const recipient = caller.cert ? publicKeyOfPem(caller.cert) : caller.signer.leafKey;
    return { status: { code: 0, message: 'success' }, message: await sealResponse(result.response ?? {}, recipient) };
  } catch (e) {
    const own = auditOf(e);
    if (own) await audit.append(own);
    else if (def.auditErrors === 'target' && e instanceof CmError) {
      await audit.append({ actor: signer?.partyId ?? 'anonymous', action: def.name, target: targetOf(body), decision: e.kind === 'permission_denied' ? 'deny' : 'error', reasons: [e.message] });
    }
    throw e;
  }
}

/**
 * One RPC inside a release session: the message's header names the session and
 * seq; it opens under the session key (a forged or corrupted message changes
 * nothing); its seq is taken once (a replay is refused and audited); then
 * validate -> handle -> audit (with the session id) -> seal under the session
 * key, answering with the same kid and seq.
 */
export async function runInSession(ctx: RpcContext, audit: AuditLog, def: SessionRpcDef, req: EncryptedRequestJson): Promise<EncryptedResponseJson> {
  const sessions = ctx.sessions;
  if (!sessions) throw new CmError('UNSUPPORTED', 'release sessions are disabled on this capsule manager (sessions.enabled)');
  const h = sessionHeaderOf(req.message, 'aenv-release-request');
  const session = sessions.use(h.kid);
  const body = openSessionMessage(req.message!, session.key);
  const verdict = session.take(h.seq);
  if (verdict === 'exhausted') {
    sessions.end(h.kid);
    throw new CmError('SESSION_EXPIRED', `the release session has served its ${session.maxReleases} releases: open a new one`);
  }
  if (verdict !== 'ok') {
    const e = new CmError('REPLAYED', verdict === 'replayed' ? `seq ${h.seq} of this release session was already used` : `seq ${h.seq} is below this release session's replay window`);
    await audit.append({ actor: session.partyId, action: def.name, target: 'release session', decision: 'deny', reasons: [e.message], session: session.id });
    throw e;
  }
  checkRequest(def.schema, body);
  try {
    const result = await def.handle(ctx, body as never, session);
    for (const e of result.audit) await audit.append({ ...e, session: session.id });
    return { status: { code: 0, message: 'success' }, message: sealSessionMessage(session.key, h, 'aenv-release-response', result.response ?? {}) };
  } catch (e) {
    const own = auditOf(e);
    if (own) await audit.append({ ...own, session: session.id });
    throw e;
  }
}
