// Polls the capsule manager's recent-decisions URL (GET, JSON) and keeps the
// last result for the status view. A failing or unreachable URL only shows up
// as `error` in the view: it never affects xDS or the API. One request at a
// time, each bounded in time and size.
import type { Logger } from 'pino';
import { decisionsRequestUrl, displaySource, parseCmDecisions, type CmDecisionsView } from '../core/cm-decisions.ts';

const MAX_BODY = 1024 * 1024;

export interface CmDecisionsPollerOptions {
  decisionsUrl: string;
  pollSeconds: number;
  limit: number;
  /** Bearer token for the CM's audit endpoint (never logged or shown). */
  token?: string;
}

export class CmDecisionsPoller {
  private state: CmDecisionsView;
  private timer: NodeJS.Timeout | undefined;
  private inflight: AbortController | undefined;
  private stopped = false;
  private readonly url: URL;

  constructor(
    private readonly opts: CmDecisionsPollerOptions,
    private readonly logger: Logger,
  ) {
    this.url = decisionsRequestUrl(opts.decisionsUrl, opts.limit);
    this.state = { source: displaySource(opts.decisionsUrl), fetchedAt: null, attemptedAt: null, records: [] };
  }

  view(): CmDecisionsView {
    return structuredClone(this.state);
  }

  start(): void {
    void this.tick();
  }

  /** One poll; resolves when the view is updated. Exposed for tests. */
  async pollOnce(): Promise<void> {
    const ac = new AbortController();
    this.inflight = ac;
    const timeout = setTimeout(() => ac.abort(new Error('timed out')), Math.min(this.opts.pollSeconds * 1000, 5000));
    const attemptedAt = new Date().toISOString();
    try {
      const res = await fetch(this.url, { headers: { accept: 'application/json', ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}) }, signal: ac.signal, redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      if (text.length > MAX_BODY) throw new Error(`response larger than ${MAX_BODY} bytes`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error('response is not JSON');
      }
      const records = parseCmDecisions(body, this.opts.limit);
      this.state = { source: this.state.source, fetchedAt: attemptedAt, attemptedAt, records };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      // fetch wraps the socket error; its cause names it (ECONNREFUSED, ...).
      const why = ac.signal.aborted ? 'request timed out or was cancelled' : err.cause?.code ? `${err.message}: ${err.cause.code}` : err.message;
      if (this.state.error !== why) this.logger.warn({ source: this.state.source, err: why }, 'capsule manager decisions unavailable');
      this.state = { ...this.state, attemptedAt, error: why };
    } finally {
      clearTimeout(timeout);
      this.inflight = undefined;
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    await this.pollOnce();
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.opts.pollSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.inflight?.abort(new Error('stopped'));
  }
}
