// Shared settings of the property-based fuzz tests (fast-check).
//
// Inside `npm test` every property runs with a FIXED seed (derived from its name,
// so properties are not correlated) and a modest number of runs: the whole of
// test/fuzz stays within about a minute on two cores and fails the same way on
// every machine. Long random campaigns (`npm run fuzz`) set:
//   FUZZ_SEED=random | <int>   seed of every property (random: a fresh one each)
//   FUZZ_RUNS=<n>              runs of every property
//   FUZZ_PATH=<path>           replay one shrunk counterexample (with FUZZ_SEED)
//   FUZZ_ONLY=<substring>      run only the properties whose name contains it
// A failure reports the property, its seed, the shrink path, the counterexample
// and the command that replays it; nothing of fast-check's report is swallowed.
import { relative } from 'node:path';
import fc from 'fast-check';
import type { Test } from 'tap';

export interface FuzzSettings {
  seed: number;
  numRuns: number;
  path?: string;
  random: boolean;
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/** FNV-1a of the property name: a fixed, distinct default seed per property. */
function nameSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

export function fuzzSettings(name: string, defaultRuns: number): FuzzSettings {
  const seedEnv = process.env.FUZZ_SEED;
  const random = seedEnv === 'random';
  const seed = random ? (Math.random() * 2 ** 31) | 0 : (envInt('FUZZ_SEED') ?? nameSeed(name));
  const runs = envInt('FUZZ_RUNS');
  if (runs !== undefined && runs < 1) throw new Error('FUZZ_RUNS must be at least 1');
  const path = process.env.FUZZ_PATH || undefined;
  return { seed, numRuns: runs ?? defaultRuns, random, ...(path ? { path } : {}) };
}

/** Whether FUZZ_ONLY leaves this property selected. */
export function selected(name: string): boolean {
  const only = process.env.FUZZ_ONLY;
  return !only || name.includes(only);
}

export interface CheckOptions {
  /** Runs inside `npm test` (FUZZ_RUNS overrides). */
  runs: number;
  /**
   * Upper bound of one run in ms: a slower run fails (and shrinks) like any other
   * counterexample, so "never a hang" is a checked property, not a hope. Generous,
   * because two test files share two cores.
   */
  maxRunMs?: number;
}

/**
 * Runs one property and reports it as one tap assertion. The predicate must
 * throw (or return false) on a violation; its error message becomes part of
 * the report.
 */
export async function checkProperty<Ts extends [unknown, ...unknown[]]>(
  t: Test,
  name: string,
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => unknown,
  opts: CheckOptions,
): Promise<void> {
  if (!selected(name)) return;
  const s = fuzzSettings(name, opts.runs);
  const maxRunMs = opts.maxRunMs ?? 5_000;
  const timed = async (...args: Ts): Promise<boolean> => {
    const t0 = performance.now();
    const r = await predicate(...args);
    const ms = performance.now() - t0;
    if (ms > maxRunMs) throw new Error(`one run took ${ms.toFixed(0)} ms (bound ${maxRunMs} ms)`);
    return r !== false;
  };
  const prop = fc.asyncProperty(...(arbs as unknown as [fc.Arbitrary<unknown>]), timed as never);
  // `timeout` turns a run that never settles (a stream that never ends, a promise
  // never resolved) into a failing, shrinkable counterexample instead of a hung file.
  const details = await fc.check(prop, { seed: s.seed, numRuns: s.numRuns, timeout: maxRunMs * 2, ...(s.path ? { path: s.path } : {}), endOnFailure: s.path !== undefined });
  if (details.failed) {
    const replay = `FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ''} FUZZ_ONLY=${JSON.stringify(name)} npx tap ${relative(process.cwd(), process.argv[1] ?? '')}`;
    const err = details.errorInstance;
    const why = err instanceof Error ? err.message : err === null || err === undefined ? 'the predicate returned false' : describe(err);
    // The whole fast-check report (seed, path, shrunk counterexample, error) goes
    // into the assertion's diagnostics: tap prints them as YAML under the failure.
    t.fail(`${name}: ${why.split('\n')[0]}`, {
      diagnostic: true,
      seed: details.seed,
      path: details.counterexamplePath,
      counterexample: fc.stringify(details.counterexample),
      error: why,
      replay,
      report: fc.defaultReportMessage(details),
    });
  } else {
    t.pass(`${name}: ${details.numRuns} runs, seed ${s.seed}`);
  }
}

/** Any thrown value as text; String() itself throws for an object without a prototype. */
function describe(v: unknown): string {
  try {
    return typeof v === 'object' && v !== null ? fc.stringify(v) : String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** A component's typed error class (made by defineErrors): its static is(). */
export interface TypedErrorClass {
  is(e: unknown): boolean;
}

/**
 * Passes when `e` is one of the typed error classes and rethrows anything else
 * (TypeError, RangeError, a raw crypto error, a SyntaxError...) with its class
 * and message, so the fast-check report names what escaped.
 */
export function expectTyped(e: unknown, ...classes: TypedErrorClass[]): void {
  if (classes.some((c) => c.is(e))) return;
  const err = e as Error;
  throw new Error(`untyped exception ${err?.constructor?.name ?? typeof e}: ${err?.message ?? describe(e)}\n${err?.stack ?? ''}`);
}

export { fc };
