// One place that decides when a long-running command stops: SIGINT, SIGTERM or
// SIGHUP, or its parent going away (an `npm start` whose npm was killed, a
// terminal closed). The handlers stay installed until dispose(), so a second
// signal during the clean stop cannot kill the process half-way and leave
// Envoy or a port behind.
export interface ShutdownSignal {
  /** Aborted at the first signal or when the parent is gone; `reason` says which. */
  readonly signal: AbortSignal;
  /** Resolves with the reason at the first signal. */
  readonly stopped: Promise<string>;
  dispose(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function shutdownSignal(opts: { watchParent?: boolean; pollMs?: number } = {}): ShutdownSignal {
  const ac = new AbortController();
  let resolveStopped!: (r: string) => void;
  const stopped = new Promise<string>((r) => (resolveStopped = r));
  const stop = (reason: string) => {
    if (ac.signal.aborted) return;
    ac.abort(reason);
    resolveStopped(reason);
  };
  const handlers = SIGNALS.map((s) => [s, () => stop(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  // process.ppid is read from the OS on every access: when the parent dies the
  // process is re-parented (to init or a subreaper) and the value changes.
  const parent = process.ppid;
  const timer =
    opts.watchParent === false
      ? undefined
      : setInterval(() => {
          if (process.ppid !== parent) stop('parent exited');
        }, opts.pollMs ?? 500);
  timer?.unref();
  return {
    signal: ac.signal,
    stopped,
    dispose() {
      if (timer) clearInterval(timer);
      for (const [s, h] of handlers) process.off(s, h);
    },
  };
}
