// The app's side of an attested release session (core/session/): a session
// opened by CapsuleManagerClient.openReleaseSession seals each GetDataKeys
// under the session key with the next seq and opens the answer only if it
// names the same session and seq. `ReleaseSessions` keeps one session open for
// an app: it opens one on first use and a new one when the CM says the old one
// is unknown (a restart, another replica) or expired, or when it is about to be.
import * as grpc from '@grpc/grpc-js';
import { EncryptedRequest, EncryptedResponse, ResourceRequest as ResourceRequestPb } from '../../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { ReleaseSessionsClient as GrpcSessionsClient } from '../../proto/gen/aenv/capsule_manager/v1/release_sessions.ts';
import type { JweJson } from '../core/envelope.ts';
import type { ResourceRequest } from '../core/model.ts';
import { openSessionMessage, sealSessionMessage, sessionHeaderOf } from '../core/session/envelope.ts';
import { CmError } from '../errors.ts';

export interface DataKey {
  resource_uri: string;
  data_key_b64: string;
}

/** How a session RPC reaches the CM: a unary call that maps gRPC errors to CmError. */
export type SessionCall = (method: 'openReleaseSession' | 'getDataKeys', req: EncryptedRequest) => Promise<EncryptedResponse>;

export function sessionTransport(address: string, timeoutMs: number, fromGrpcError: (e: grpc.ServiceError) => Error): { call: SessionCall; close(): void } {
  const client = new GrpcSessionsClient(address, grpc.credentials.createInsecure());
  const call: SessionCall = (method, req) =>
    new Promise((resolve, reject) => {
      const cb = (e: grpc.ServiceError | null, r: EncryptedResponse) => (e ? reject(fromGrpcError(e)) : resolve(r));
      const opts = { deadline: Date.now() + timeoutMs };
      if (method === 'openReleaseSession') client.openReleaseSession(req, new grpc.Metadata(), opts, cb);
      else client.getDataKeys(req, new grpc.Metadata(), opts, cb);
    });
  return { call, close: () => client.close() };
}

export function jweOfResponse(resp: EncryptedResponse): JweJson {
  if (resp.status && resp.status.code !== 0) throw new CmError('INVALID_REQUEST', `capsule manager: ${resp.status.message}`);
  const m = resp.message;
  if (!m) throw new CmError('BAD_ENVELOPE', 'response carries no message');
  return { protected: m.protectedHeader, encrypted_key: m.encryptedKey, iv: m.iv, ciphertext: m.ciphertext, tag: m.tag, aad: m.aad };
}

/** One open release session: its id, key, expiry and the next seq. */
export class ReleaseSession {
  private seq = 0;
  private closed = false;
  constructor(
    private readonly call: SessionCall,
    readonly id: string,
    private readonly key: Buffer,
    readonly expiresAt: Date,
    readonly maxReleases: number,
  ) {}

  /** Releases left before the CM ends the session. */
  get remaining(): number {
    return this.maxReleases - this.seq;
  }

  async getDataKeys(resourceRequest: ResourceRequest): Promise<DataKey[]> {
    if (this.closed) throw new CmError('SESSION_EXPIRED', 'this release session was closed');
    const seq = ++this.seq;
    const rr = ResourceRequestPb.toJSON(ResourceRequestPb.fromJSON(resourceRequest));
    const message = sealSessionMessage(this.key, { kid: this.id, seq }, 'aenv-release-request', { resource_request: rr });
    const resp = await this.call('getDataKeys', EncryptedRequest.fromJSON({ message }));
    const jwe = jweOfResponse(resp);
    const h = sessionHeaderOf(jwe, 'aenv-release-response');
    // The answer must be to this request: same session, same seq (both authenticated with the body).
    if (h.kid !== this.id || h.seq !== seq) throw new CmError('BAD_ENVELOPE', 'the release-session answer names another session or request');
    const body = openSessionMessage(jwe, this.key) as { data_keys?: DataKey[] };
    return body.data_keys ?? [];
  }

  /** Forgets the key here (the CM forgets it at expiry). */
  close(): void {
    this.closed = true;
    this.key.fill(0);
  }
}

/** Opens sessions on demand and replaces one the CM no longer holds, is past its expiry, or about to be. */
export class ReleaseSessions {
  private current?: Promise<ReleaseSession>;
  constructor(
    private readonly open: () => Promise<ReleaseSession>,
    /** A session this close to its expiry (ms) is replaced before use. */
    private readonly renewBeforeMs = 10_000,
  ) {}

  private session(): Promise<ReleaseSession> {
    const fresh = () => (this.current = this.open());
    if (!this.current) return fresh();
    return this.current.then(
      (s) => (s.expiresAt.getTime() - Date.now() < this.renewBeforeMs || s.remaining < 1 ? this.replace(s) : s),
      () => fresh(),
    );
  }

  private replace(old: ReleaseSession): Promise<ReleaseSession> {
    // Concurrent callers that saw the same old session share one new one.
    return this.current!.then((s) => {
      if (s !== old) return s;
      old.close();
      return (this.current = this.open());
    });
  }

  async getDataKeys(resourceRequest: ResourceRequest): Promise<DataKey[]> {
    const s = await this.session();
    try {
      return await s.getDataKeys(resourceRequest);
    } catch (e) {
      // The CM did not serve the request: open a new session and ask once more.
      if (!CmError.is(e, 'SESSION_UNKNOWN') && !CmError.is(e, 'SESSION_EXPIRED')) throw e;
      return (await this.replace(s)).getDataKeys(resourceRequest);
    }
  }

  close(): void {
    void this.current?.then((s) => s.close(), () => undefined);
    this.current = undefined;
  }
}
