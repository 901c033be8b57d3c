// Probes each watched service's health URL (GET, 2xx = up) every pollSeconds,
// one probe per service at a time, each bounded in time; results go to the
// ServiceHealthBoard the status view reads. Display only: a failing probe never
// affects xDS or the API.
import type { Logger } from 'pino';
import { ServiceHealthBoard } from '../core/service-health.ts';

export interface ServiceHealthPollerOptions {
  pollSeconds: number;
  targets: Array<{ name: string; url: string }>;
}

export class ServiceHealthPoller {
  readonly board: ServiceHealthBoard;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly inflight = new Set<AbortController>();

  constructor(
    private readonly opts: ServiceHealthPollerOptions,
    private readonly logger: Logger,
  ) {
    this.board = new ServiceHealthBoard(opts.targets);
  }

  start(): void {
    void this.tick();
  }

  /** One round of probes; resolves when every result is recorded. Exposed for tests. */
  async pollOnce(): Promise<void> {
    await Promise.all(
      this.opts.targets.map(async (t) => {
        const ac = new AbortController();
        this.inflight.add(ac);
        const timer = setTimeout(() => ac.abort(new Error('timed out')), Math.min(this.opts.pollSeconds * 1000, 2000));
        try {
          const res = await fetch(t.url, { signal: ac.signal, redirect: 'error' });
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          this.board.record(t.name, true);
        } catch (e) {
          const err = e as Error & { cause?: { code?: string } };
          const why = ac.signal.aborted ? 'no answer in time' : err.cause?.code ?? err.message;
          const was = this.board.view().find((s) => s.name === t.name)?.up;
          if (was !== false) this.logger.error({ service: t.name, err: why }, 'watched service is down');
          this.board.record(t.name, false, why);
        } finally {
          clearTimeout(timer);
          this.inflight.delete(ac);
        }
      }),
    );
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
    for (const ac of this.inflight) ac.abort(new Error('stopped'));
  }
}
