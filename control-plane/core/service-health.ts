// The health of the services beside the control plane (ext-proc, the capsule
// manager, ...), as the status view shows it: pure state; the poller in
// transport/ feeds it probe results. A service that was up and stops answering
// is an alarm on the status page.
export interface ServiceHealth {
  name: string;
  /** The probed URL without credentials or query. */
  url: string;
  /** null until the first probe has answered or failed. */
  up: boolean | null;
  /** Since when the current state holds. */
  since: string | null;
  lastProbeAt: string | null;
  /** Why the last failed probe failed. */
  lastError?: string;
  /** Times the service went from up to down since the control plane started. */
  downs: number;
}

export class ServiceHealthBoard {
  private readonly entries = new Map<string, ServiceHealth>();

  constructor(targets: Array<{ name: string; url: string }>) {
    for (const t of targets) {
      const u = new URL(t.url);
      this.entries.set(t.name, { name: t.name, url: `${u.protocol}//${u.host}${u.pathname}`, up: null, since: null, lastProbeAt: null, downs: 0 });
    }
  }

  record(name: string, ok: boolean, error?: string, at = new Date().toISOString()): void {
    const e = this.entries.get(name);
    if (!e) return;
    if (e.up !== ok) {
      if (e.up === true && !ok) e.downs++;
      e.up = ok;
      e.since = at;
    }
    e.lastProbeAt = at;
    if (ok) delete e.lastError;
    else e.lastError = error ?? 'no answer';
  }

  view(): ServiceHealth[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }
}
