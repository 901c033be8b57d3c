// xDS fan-out benchmark: N simulated ADS clients (a separate child process)
// receive a route change; we measure, inside the control plane, the time from
// publishing the change until each node's ACK of the new RDS version arrives
// (p50/p99/max = "all ACKed"), and the control plane's heap per connected node.
// Reported as a ratio against a single-client baseline from the same run.
// usage: node --import=tsx --expose-gc bench/xds-fanout.ts [--clients 1000] [--rounds 10]
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger } from '../foundation/logger.ts';
import { startControlPlane, type ControlPlaneHandle } from '../control-plane/index.ts';
import { TYPE } from '../control-plane/index.ts';
import { writeBenchResult } from './lib/results.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { clients: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '10' }, 'deadline-s': { type: 'string', default: '110' }, 'streams-per-connection': { type: 'string', default: '1' }, 'client-processes': { type: 'string', default: '2' } } });
/** One or more client counts, e.g. 1000,5000,10000. */
const COUNTS = values.clients!.split(',').map(Number);
/** 1 (default): one HTTP/2 connection per simulated Envoy; 100: the shared mode. */
const PER_CONN = Math.max(1, Number(values['streams-per-connection']));
const PROCS = Math.max(1, Number(values['client-processes']));
const ROUNDS = Number(values.rounds);
const started = Date.now();
const deadline = started + Number(values['deadline-s']) * 1000;

setFlagsFromString('--expose-gc');
const gc = (globalThis as { gc?: () => void }).gc ?? (runInNewContext('gc') as () => void);
function heap(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

const app = {
  revision: 'bench',
  plugins: [
    {
      plugin: 'route',
      name: 'edge',
      config: {
        listener: { address: '127.0.0.1', port: 10000 },
        clusters: [
          { name: 'a', endpoints: [{ address: '127.0.0.1', port: 10001 }] },
          { name: 'b', endpoints: [{ address: '127.0.0.1', port: 10002 }] },
        ],
        routes: [{ name: 'all', match: { prefix: '/' }, cluster: 'a' }],
      },
    },
  ],
};

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;
}

async function waitFor(what: string, pred: () => boolean, timeoutMs: number, progress?: () => string): Promise<void> {
  const end = Math.min(Date.now() + timeoutMs, deadline);
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}${progress ? ` (${progress()})` : ''}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface RunResult {
  mode: 'sotw' | 'delta';
  clients: number;
  rounds: number;
  connectAndSyncMs: number;
  perNodeAckMs: { p50: number; p99: number; max: number };
  allAckedMs: { p50: number; p99: number; max: number };
  heapPerNodeBytes: number;
  /** The control plane's RSS growth per connected client (it runs in this process). */
  rssPerNodeBytes: number;
  /** The control plane's CPU (this process, user + system) per change round, all clients. */
  cpuMsPerRound: number;
  streamsPerConnection: number;
  clientProcesses: number;
}

async function run(mode: 'sotw' | 'delta', count: number, rounds: number): Promise<RunResult> {
  const cp: ControlPlaneHandle = await startControlPlane({ id: 'bench', app }, { logger: silentLogger });
  const routeVersion = () => cp.core.current!.resources[TYPE.route].version;
  const acked = new Map<string, string>();
  let pending: { version: string; t0: number; times: number[] } | undefined;
  cp.core.status.onEvent((e) => {
    if (e.kind !== 'ack' || e.typeUrl !== TYPE.route) return;
    acked.set(e.nodeId, e.version);
    if (pending && e.version === pending.version) pending.times.push(performance.now() - pending.t0);
  });
  const base = heap();
  const rss0 = process.memoryUsage.rss();
  const t0 = performance.now();
  // The clients in separate processes, split evenly.
  const procs = Math.min(PROCS, count);
  const children: ChildProcess[] = Array.from({ length: procs }, (_, k) => {
    const n = Math.floor(count / procs) + (k < count % procs ? 1 : 0);
    return fork(join(here, 'xds-fanout-clients.ts'), [String(cp.xdsPort), String(n), mode, `${mode}-${count}-${k}`, String(PER_CONN)], { execArgv: ['--import=tsx'], stdio: 'inherit' });
  });
  try {
    await waitFor(`all ${count} clients synced (${mode})`, () => acked.size === count && [...acked.values()].every((v) => v === routeVersion()), 180_000, () => `${acked.size} acked`);
    process.stderr.write(`${mode} ${count}: synced in ${Math.round(performance.now() - t0)} ms\n`);
    const connectAndSyncMs = performance.now() - t0;
    const heapPerNodeBytes = (heap() - base) / count;
    const rssPerNodeBytes = (process.memoryUsage.rss() - rss0) / count;
    const cpu0 = process.cpuUsage();
    const perNode: number[] = [];
    const all: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const prefix = `/r${r}`;
      pending = { version: '', t0: performance.now(), times: [] };
      await cp.routing.apply({ op: 'putRoute', route: { name: 'moving', match: { prefix }, cluster: r % 2 ? 'a' : 'b' } });
      pending.version = routeVersion();
      // ACK events before the version was known cannot exist: apply() publishes synchronously.
      const p = pending;
      await waitFor(`round ${r} ACKed`, () => p.times.length >= count, 30_000);
      perNode.push(...p.times);
      all.push(Math.max(...p.times));
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerRound = (cpu.user + cpu.system) / 1000 / rounds;
    perNode.sort((a, b) => a - b);
    all.sort((a, b) => a - b);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return {
      mode,
      clients: count,
      rounds,
      connectAndSyncMs: r2(connectAndSyncMs),
      perNodeAckMs: { p50: r2(pct(perNode, 50)), p99: r2(pct(perNode, 99)), max: r2(perNode[perNode.length - 1]!) },
      allAckedMs: { p50: r2(pct(all, 50)), p99: r2(pct(all, 99)), max: r2(all[all.length - 1]!) },
      heapPerNodeBytes: Math.round(heapPerNodeBytes),
      rssPerNodeBytes: Math.round(rssPerNodeBytes),
      cpuMsPerRound: r2(cpuMsPerRound),
      streamsPerConnection: PER_CONN,
      clientProcesses: procs,
    };
  } finally {
    await Promise.all(children.map((child) => {
      child.send({ stop: true });
      return new Promise((r) => { const t = setTimeout(() => { child.kill('SIGKILL'); r(undefined); }, 3000); child.once('exit', () => { clearTimeout(t); r(undefined); }); });
    }));
    await cp.close();
  }
}

const results: RunResult[] = [];
for (const mode of ['sotw', 'delta'] as const) {
  results.push(await run(mode, 1, ROUNDS));
  for (const n of COUNTS) results.push(await run(mode, n, ROUNDS));
}
const byKey = (m: string, n: number) => results.find((r) => r.mode === m && r.clients === n)!;
const summary = (['sotw', 'delta'] as const).flatMap((mode) => COUNTS.map((N) => {
  const base = byKey(mode, 1);
  const big = byKey(mode, N);
  return {
    mode,
    clients: N,
    allAckedP50Ms: big.allAckedMs.p50,
    allAckedP99Ms: big.allAckedMs.p99,
    perNodeP50Ms: big.perNodeAckMs.p50,
    perNodeP99Ms: big.perNodeAckMs.p99,
    heapPerNodeKB: Math.round(big.heapPerNodeBytes / 102.4) / 10,
    rssPerNodeKB: Math.round(big.rssPerNodeBytes / 102.4) / 10,
    controlPlaneCpuMsPerRound: big.cpuMsPerRound,
    streamsPerConnection: PER_CONN,
    targetRssUnder50KBPerClient: big.rssPerNodeBytes < 50 * 1024,
    baselineSingleClientP99Ms: base.allAckedMs.p99,
    ratioAllAckedP99VsSingleClient: Math.round((big.allAckedMs.p99 / Math.max(base.allAckedMs.p99, 0.01)) * 10) / 10,
    targetAllAckedUnder2s: big.allAckedMs.max < 2000,
    targetUnder100KBPerNode: big.heapPerNodeBytes < 100 * 1024,
  };
}));
const out = { benchmark: 'xds-fanout', date: new Date().toISOString(), node: process.version, cpus: cpus().length, durationS: Math.round((Date.now() - started) / 1000), summary, runs: results };
mkdirSync(join(here, 'results'), { recursive: true });
process.stdout.write(`wrote ${writeBenchResult('xds-fanout', out)}\n`);
for (const s of summary) {
  console.log(
    `${s.mode.padEnd(5)} ${s.clients} clients: all ACKed p50 ${s.allAckedP50Ms} ms, p99 ${s.allAckedP99Ms} ms (x${s.ratioAllAckedP99VsSingleClient} vs 1 client: ${s.baselineSingleClientP99Ms} ms); per node p50 ${s.perNodeP50Ms} ms p99 ${s.perNodeP99Ms} ms; heap ${s.heapPerNodeKB} KB/node, RSS ${s.rssPerNodeKB} KB/client, CP CPU ${s.controlPlaneCpuMsPerRound} ms/round (${s.streamsPerConnection} stream(s) per connection)`,
  );
}
console.log(`wrote bench/results/xds-fanout.json in ${out.durationS} s`);
process.exit(0);
