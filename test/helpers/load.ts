// Bounded load for the fault tests: `concurrency` workers call `fn` back to back
// until stop() is called, `maxRequests` were started or `maxMs` passed (both
// always set, so a fault test cannot turn into an open-ended load run). Every
// call is recorded with its start and end time, its value or its error, so a
// test can ask what happened before, during and after a fault.

export interface Outcome<R> {
  /** Call number, in start order. */
  i: number;
  worker: number;
  start: number;
  end: number;
  value?: R;
  error?: unknown;
}

export interface LoadOptions<R> {
  concurrency: number;
  /** Hard cap on calls started. */
  maxRequests: number;
  /** Hard cap on the run's duration (ms since start). */
  maxMs: number;
  /** Calls started per second across all workers at most (fast failures would otherwise burn the budget). */
  maxRate?: number;
  fn: (i: number, worker: number) => Promise<R>;
}

export interface Load<R> {
  readonly outcomes: Outcome<R>[];
  /** Calls started so far. */
  readonly started: number;
  /** Calls started and not yet finished. */
  readonly inFlight: number;
  /** Stops starting calls; resolves once every call in flight finished. */
  stop(): Promise<Outcome<R>[]>;
  /** Resolves when the run ended by itself (caps) or after stop(). */
  readonly done: Promise<Outcome<R>[]>;
  /** Resolves once `n` more calls finished after this call (or the run ended). */
  completions(n: number): Promise<void>;
}

export function startLoad<R>(o: LoadOptions<R>): Load<R> {
  const outcomes: Outcome<R>[] = [];
  const t0 = Date.now();
  let next = 0;
  let inFlight = 0;
  let stopped = false;
  let nextSlot = t0;
  const waiters: Array<{ at: number; resolve: () => void }> = [];
  const wake = (all = false) => {
    for (let k = waiters.length - 1; k >= 0; k--) {
      if (all || outcomes.length >= waiters[k]!.at) {
        waiters[k]!.resolve();
        waiters.splice(k, 1);
      }
    }
  };
  const worker = async (w: number) => {
    while (!stopped && next < o.maxRequests && Date.now() - t0 < o.maxMs) {
      if (o.maxRate) {
        const slot = Math.max(nextSlot, Date.now());
        nextSlot = slot + 1000 / o.maxRate;
        if (slot > Date.now()) await new Promise((r) => setTimeout(r, slot - Date.now()));
        if (stopped || next >= o.maxRequests) break;
      }
      const i = next++;
      const rec: Outcome<R> = { i, worker: w, start: Date.now(), end: 0 };
      inFlight++;
      try {
        rec.value = await o.fn(i, w);
      } catch (e) {
        rec.error = e;
      }
      inFlight--;
      rec.end = Date.now();
      outcomes.push(rec);
      wake();
    }
  };
  const done = Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w))).then(() => {
    stopped = true;
    wake(true);
    return outcomes;
  });
  return {
    outcomes,
    get started() {
      return next;
    },
    get inFlight() {
      return inFlight;
    },
    async stop() {
      stopped = true;
      return done;
    },
    done,
    completions(n) {
      if (stopped) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ at: outcomes.length + n, resolve }));
    },
  };
}

/** Resolves when `pred` holds, polled every `stepMs`; rejects with `what` after `timeoutMs`. */
export async function waitUntil(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 15_000, stepMs = 5): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await pred()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
