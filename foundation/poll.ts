// Waiting for a condition another process brings about (Envoy picked up a
// config, a replica caught up): poll, tolerate failing probes meanwhile, and
// on timeout say what was awaited and the last probe error.

export interface PollOptions {
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** Pause between probes (default 20 ms). */
  stepMs?: number;
}

/**
 * Calls `probe` until it returns a truthy value and returns that. A probe that
 * throws counts as "not yet"; its error is quoted if the wait times out.
 */
export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined | false>, opts: PollOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const stepMs = opts.stepMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
