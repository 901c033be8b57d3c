// Probes each watched service's health URL (GET, 2xx = up) every pollSeconds,
// one probe per service at a time, each bounded in time; results go to the
// ServiceHealthBoard the status view reads. Display only: a failing probe never
// affects xDS or the API.
import { request } from 'node:http';
import type { Logger } from 'pino';
import { ServiceHealthBoard } from '../core/service-health.ts';

/** A watched service: its health URL, reached over a Unix socket when `socket` is set (the URL then gives the path). */
export interface HealthTarget {
  name: string;
  url: string;
  socket?: string;
}

export interface ServiceHealthPollerOptions {
  pollSeconds: number;
  targets: HealthTarget[];
}

/** GET over a Unix socket; resolves with the status code. */
function getOverSocket(socket: string, url: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ socketPath: socket, path: `${u.pathname}${u.search}`, method: 'GET', headers: { host: u.host }, signal }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function probe(t: HealthTarget, signal: AbortSignal): Promise<number> {
  if (t.socket) return getOverSocket(t.socket, t.url, signal);
  const res = await fetch(t.url, { signal, redirect: 'error' });
  await res.arrayBuffer().catch(() => undefined);
  return res.status;
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
          const status = await probe(t, ac.signal);
          if (status < 200 || status > 299) throw new Error(`HTTP ${status}`);
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
