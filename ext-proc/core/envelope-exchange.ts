// The per-request state machine of the envelope, independent of gRPC: the
// transport (server.ts) feeds it Envoy's phases and turns its decisions into
// ProcessingResponses. One instance per HTTP request (= one ext_proc stream).
//
//   request headers -> pass (plain; body phases switched off) | inspect | reject
//   request body    -> replace with plaintext | pass (not an envelope) | reject
//   response headers-> continue (+ session headers)
//   response body   -> replace with the encrypted response | reject
import type { AppIdentity } from '../../platforms/index.ts';
import type { ContentEnc, ExtProcConfig, KeyAlg } from '../config.ts';
import { ExtProcError } from '../errors.ts';
import { decryptEnvelope, type CompatMode, type Decrypted } from './jwe-decrypt.ts';
import { hasJweShape, looksCompact, parseCompact, parseJsonJwe, type ParsedJwe } from './jwe-envelope.ts';
import { encryptResponse } from './response-encrypt.ts';
import { SESSION_EXPIRES_HEADER, SESSION_HEADER, type SessionTable } from './session-table.ts';

export interface EnvelopeContext {
  identity: AppIdentity;
  sessions: SessionTable | undefined;
  compat: CompatMode;
  plain: 'allow' | 'reject';
  maxBodyBytes: number;
  algorithms: readonly KeyAlg[];
  encryptions: readonly ContentEnc[];
}

export function contextFromConfig(cfg: ExtProcConfig, identity: AppIdentity, sessions: SessionTable | undefined): EnvelopeContext {
  return { identity, sessions: cfg.session.enabled ? sessions : undefined, compat: cfg.compat, plain: cfg.plain, maxBodyBytes: cfg.maxBodyBytes, algorithms: cfg.algorithms, encryptions: cfg.encryptions };
}

/** Header edits for Envoy: set (overwrite) and remove. */
export interface HeaderEdits {
  set: Array<[string, string]>;
  remove: string[];
}

export type Decision =
  | { kind: 'pass' }
  | { kind: 'continue'; headers?: HeaderEdits }
  | { kind: 'replace'; body: Buffer; headers: HeaderEdits }
  | { kind: 'reject'; error: ExtProcError };

type Expect = 'json' | 'compact' | 'sniff';

function mediaType(v: string | undefined): string {
  return (v ?? '').split(';')[0]!.trim().toLowerCase();
}

const SAFE_CTY = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;[\x20-\x7e]*)?$/;

export class EnvelopeExchange {
  private expect: Expect | undefined;
  private requestType = '';
  private wantSession = false;
  private decrypted: Decrypted | undefined;
  private session: { id: string; expiresAt: number } | undefined;
  private responseType: string | undefined;
  /** Set when the request turned out to be an envelope: used for metrics. */
  alg: KeyAlg | undefined;

  constructor(private readonly ctx: EnvelopeContext) {}

  get isEnvelope(): boolean {
    return this.decrypted !== undefined;
  }

  private plainOr(): Decision {
    return this.ctx.plain === 'allow' ? { kind: 'pass' } : { kind: 'reject', error: new ExtProcError('ENCRYPTION_REQUIRED', 'this service accepts only JWE envelopes') };
  }

  onRequestHeaders(headers: ReadonlyMap<string, string>, endOfStream: boolean): Decision {
    const type = mediaType(headers.get('content-type'));
    this.requestType = type;
    if (type === 'application/jose+json') this.expect = 'json';
    else if (type === 'application/jose') this.expect = 'compact';
    else if (type === 'application/json' || type === 'text/plain' || type === '') this.expect = 'sniff';
    // A request that declares a JWE but carries no body is not forwarded.
    if (endOfStream) return this.expect === 'json' || this.expect === 'compact' ? { kind: 'reject', error: new ExtProcError('MALFORMED_ENVELOPE', `a ${type} request needs a JWE body`) } : this.plainOr();
    if (!this.expect) return this.plainOr();
    const len = headers.get('content-length');
    if (len !== undefined && Number(len) > this.ctx.maxBodyBytes) {
      return { kind: 'reject', error: new ExtProcError('BODY_TOO_LARGE', `request body exceeds ${this.ctx.maxBodyBytes} bytes`) };
    }
    this.wantSession = (headers.get(SESSION_HEADER) ?? '').toLowerCase() === 'new';
    return { kind: 'continue' };
  }

  private parse(body: Buffer): ParsedJwe | undefined {
    const first = body.find((c) => c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09);
    if (this.expect === 'compact' || (this.expect === 'sniff' && first !== 0x7b /* { */)) {
      const text = body.toString('latin1');
      if (looksCompact(text)) return parseCompact(text);
      if (this.expect === 'compact') throw new ExtProcError('MALFORMED_ENVELOPE', 'body is not a compact JWE');
      return undefined;
    }
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch (cause) {
      if (this.expect === 'json') throw new ExtProcError('MALFORMED_ENVELOPE', 'body is not valid JSON', { cause });
      return undefined;
    }
    if (this.expect === 'sniff' && !hasJweShape(v)) return undefined;
    return parseJsonJwe(v);
  }

  onRequestBody(body: Buffer): Decision {
    try {
      if (body.length > this.ctx.maxBodyBytes) throw new ExtProcError('BODY_TOO_LARGE', `request body exceeds ${this.ctx.maxBodyBytes} bytes`);
      const jwe = this.parse(body);
      if (!jwe) return this.plainOr().kind === 'pass' ? { kind: 'continue' } : this.plainOr();
      const d = decryptEnvelope(jwe, this.ctx);
      this.decrypted = d;
      this.alg = d.alg;
      if (this.wantSession && d.alg !== 'dir' && this.ctx.sessions) this.session = this.ctx.sessions.create(d.cek, d.enc);
      const cty = d.cty && SAFE_CTY.test(d.cty) ? (d.cty.includes('/') ? d.cty : `application/${d.cty}`) : this.requestType === 'application/json' ? 'application/json' : 'application/octet-stream';
      return { kind: 'replace', body: d.plaintext, headers: { set: [['content-type', cty], ['content-length', String(d.plaintext.length)]], remove: [SESSION_HEADER] } };
    } catch (e) {
      if (ExtProcError.is(e)) return { kind: 'reject', error: e };
      throw e;
    }
  }

  onResponseHeaders(headers?: ReadonlyMap<string, string>): Decision {
    // The outer content type becomes the envelope's; the app's travels inside as `cty`.
    const ct = headers?.get('content-type');
    if (ct && SAFE_CTY.test(ct)) this.responseType = ct;
    if (!this.session) return { kind: 'continue' };
    return { kind: 'continue', headers: { set: [[SESSION_HEADER, this.session.id], [SESSION_EXPIRES_HEADER, String(Math.floor(this.session.expiresAt / 1000))]], remove: [] } };
  }

  /** True when the response body must be encrypted (the request was an envelope). */
  get encryptsResponse(): boolean {
    return this.decrypted !== undefined;
  }

  onResponseBody(body: Buffer): Decision {
    if (!this.decrypted) return { kind: 'continue' };
    try {
      const out = encryptResponse(this.decrypted, body, this.ctx.compat, this.requestType, this.responseType);
      return { kind: 'replace', body: out.body, headers: { set: [['content-type', out.contentType], ['content-length', String(out.body.length)]], remove: ['content-encoding', 'etag', 'content-md5'] } };
    } catch (cause) {
      return { kind: 'reject', error: new ExtProcError('RESPONSE_ENCRYPT_FAILED', 'response could not be encrypted', { cause }) };
    }
  }
}
