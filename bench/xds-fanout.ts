// xDS fan-out benchmark: N simulated ADS clients (a separate child process)
// receive a route change; we measure, inside the control plane, the time from
// publishing the change until each node's ACK of the new RDS version arrives
// (p50/p99/max = "all ACKed"), and the control plane's heap per connected node.
// Reported as a ratio against a single-client baseline from the same run and
// against go-control-plane (bench/peer-xds: its SnapshotCache and server, in Go),
// run after ours for each mode and count with the same client harness, the same
// node ids and the same rounds: the resources of every change come from our own
// control plane core, so both serve the same resources with the same per-type
// versions (only the RDS resource changes per round).
// usage: node --import=tsx --expose-gc bench/xds-fanout.ts [--clients 1000,5000,10000] [--rounds 10] [--peer false]
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger } from '../foundation/logger.ts';
import { ControlPlaneCore, LocalRoutingSync, startControlPlane, TYPE, type ControlPlaneHandle, type Snapshot } from '../control-plane/index.ts';
import { Any } from '../proto/gen/google/protobuf/any.ts';
import { PROJECT_ROOT } from '../foundation/project-root.ts';
import { writeBenchResult } from './lib/results.ts';
import { cpuMs } from './lib/proc-cpu.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { clients: { type: 'string', default: '1000,5000,10000' }, rounds: { type: 'string', default: '10' }, 'deadline-s': { type: 'string' }, 'streams-per-connection': { type: 'string', default: '1' }, 'client-processes': { type: 'string', default: '2' }, peer: { type: 'string', default: 'true' } } });
/** One or more client counts, e.g. 1000,5000,10000. */
const COUNTS = values.clients!.split(',').map(Number);
/** 1 (default): one HTTP/2 connection per simulated Envoy; 100: the shared mode. */
const PER_CONN = Math.max(1, Number(values['streams-per-connection']));
const PROCS = Math.max(1, Number(values['client-processes']));
const ROUNDS = Number(values.rounds);
/** go-control-plane beside ours (--peer false: ours only). */
const PEER = values.peer !== 'false';
const started = Date.now();
const PEER_BIN = PEER ? buildPeer() : '';
// The whole run is bounded (default 110 s, 300 s with the peer: twice the runs); the clock starts after the Go build.
const deadline = Date.now() + Number(values['deadline-s'] ?? (PEER ? 300 : 110)) * 1000;

/** Builds bench/peer-xds (go-control-plane; the Go toolchain caches it). */
function buildPeer(): string {
  const bin = join(PROJECT_ROOT, '.tools/bin/peer-xds');
  try {
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: join(here, 'peer-xds'), stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GOFLAGS: '-mod=mod' } });
  } catch (e) {
    throw new Error(`cannot build bench/peer-xds (needs Go and the Go module proxy; --peer false skips the peer): ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
  return bin;
}

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
  /** Per round (initial snapshot first): every type's version, the content hashes of what was served. */
  versions: string[];
}

interface PeerRunResult extends Omit<RunResult, 'heapPerNodeBytes'> {
  server: 'go-control-plane v0.14.0 (SnapshotCache, ADS, one snapshot for all nodes; server.NewServer)';
  /** Go heap (HeapAlloc after a GC) growth per connected client. */
  heapPerNodeBytes: number;
  /** The Go process's VmRSS growth per client (/proc/<pid>/status). */
  rssPerNodeBytes: number;
  /** The Go process's CPU (utime + stime from /proc/<pid>/stat) per change round. */
  cpuMsPerRound: number;
  goroutinesPerNode: number;
  /** Every round's versions equal those of our run: both served the same resources. */
  sameResourcesAsOurs: boolean;
  /**
   * go-control-plane marshals every resource again (deterministically) for each response: how
   * many come out byte for byte as ours, and the sizes (equal sizes: field order differs only).
   */
  reencoding: { resources: number; identical: number; bytesIn: number; bytesOut: number };
}

/**
 * Forks the client harness: `count` simulated Envoys against 127.0.0.1:port, split over the
 * client processes into `children`. The processes start one after another (each opens its
 * streams in waves, then says so): all at once they doubled the connect rate, and at 10,000
 * our listener's accept queue (grpc-js listens with Node's backlog of 511) overflowed, leaving a
 * few dozen clients in SYN retries and gRPC's reconnect backoff past the sync timeout.
 */
async function forkClients(port: number, count: number, mode: 'sotw' | 'delta', children: ChildProcess[]): Promise<void> {
  const procs = Math.min(PROCS, count);
  for (let k = 0; k < procs; k++) {
    const n = Math.floor(count / procs) + (k < count % procs ? 1 : 0);
    const child = fork(join(here, 'xds-fanout-clients.ts'), [String(port), String(n), mode, `${mode}-${count}-${k}`, String(PER_CONN)], { execArgv: ['--import=tsx'], stdio: 'inherit' });
    children.push(child);
    if (k === procs - 1) break;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`client process ${k} did not open its ${n} streams within 120 s`)), Math.max(0, Math.min(120_000, deadline - Date.now())));
      child.on('message', (m: { opened?: number }) => { if (m.opened !== undefined) { clearTimeout(t); resolve(); } });
      child.once('exit', (code) => { clearTimeout(t); reject(new Error(`client process ${k} exited (${code}) before it opened its streams`)); });
    });
  }
}

async function stopClients(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((child) => {
    child.send({ stop: true });
    return new Promise((r) => { const t = setTimeout(() => { child.kill('SIGKILL'); r(undefined); }, 3000); child.once('exit', () => { clearTimeout(t); r(undefined); }); });
  }));
}

const versionsOf = (snap: Snapshot) => Object.entries(snap.resources).map(([t, s]) => `${t.split('.').pop()}=${s.version}`).join(',');
const r2 = (x: number) => Math.round(x * 100) / 100;
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: r2(pct(s, 50)), p99: r2(pct(s, 99)), max: r2(s[s.length - 1]!) };
};
/** The route change of round r (the same for ours and the peer). */
const change = (r: number) => ({ op: 'putRoute' as const, route: { name: 'moving', match: { prefix: `/r${r}` }, cluster: r % 2 ? 'a' : 'b' } });

async function run(mode: 'sotw' | 'delta', count: number, rounds: number): Promise<RunResult> {
  const cp: ControlPlaneHandle = await startControlPlane({ id: 'bench', app }, { logger: silentLogger });
  const routeVersion = () => cp.core.current!.resources[TYPE.route].version;
  const versions = [versionsOf(cp.core.current!)];
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
  const children: ChildProcess[] = [];
  try {
    await forkClients(cp.xdsPort, count, mode, children);
    await waitFor(`all ${count} clients synced (${mode})`, () => acked.size === count && [...acked.values()].every((v) => v === routeVersion()), 180_000, () => `${acked.size} acked`);
    process.stderr.write(`${mode} ${count}: synced in ${Math.round(performance.now() - t0)} ms\n`);
    const connectAndSyncMs = performance.now() - t0;
    const heapPerNodeBytes = (heap() - base) / count;
    const rssPerNodeBytes = (process.memoryUsage.rss() - rss0) / count;
    const cpu0 = process.cpuUsage();
    const perNode: number[] = [];
    const all: number[] = [];
    for (let r = 0; r < rounds; r++) {
      pending = { version: '', t0: performance.now(), times: [] };
      await cp.routing.apply(change(r));
      pending.version = routeVersion();
      versions.push(versionsOf(cp.core.current!));
      // ACK events before the version was known cannot exist: apply() publishes synchronously.
      const p = pending;
      await waitFor(`round ${r} ACKed`, () => p.times.length >= count, 30_000);
      perNode.push(...p.times);
      all.push(Math.max(...p.times));
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerRound = (cpu.user + cpu.system) / 1000 / rounds;
    return {
      mode,
      clients: count,
      rounds,
      connectAndSyncMs: r2(connectAndSyncMs),
      perNodeAckMs: stats(perNode),
      allAckedMs: stats(all),
      heapPerNodeBytes: Math.round(heapPerNodeBytes),
      rssPerNodeBytes: Math.round(rssPerNodeBytes),
      cpuMsPerRound: r2(cpuMsPerRound),
      streamsPerConnection: PER_CONN,
      clientProcesses: Math.min(PROCS, count),
      versions,
    };
  } finally {
    await stopClients(children);
    await cp.close();
  }
}

/** VmRSS of a process in bytes (/proc/<pid>/status). */
function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

type PeerEvent = { event: string; seq?: number; [k: string]: unknown };

/** The Go peer process and the events it prints, one JSON line each. */
class Peer {
  readonly proc: ChildProcess;
  private readonly events: PeerEvent[] = [];
  private buf = '';
  private exited?: string;

  constructor(nodes: number) {
    this.proc = spawn(PEER_BIN, ['--port', '0', '--nodes', String(nodes)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line.trim()) this.events.push(JSON.parse(line) as PeerEvent);
      }
    });
    this.proc.once('exit', (code, sig) => { this.exited = `exited (${code ?? sig})`; });
    this.proc.stdin!.on('error', () => undefined);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Waits for (and consumes) the first event of a kind (and seq); an error event or an exit fails it. */
  async next(kind: string, timeoutMs: number, seq?: number, progress?: () => string): Promise<PeerEvent> {
    let found: PeerEvent | undefined;
    await waitFor(`go-control-plane: ${kind}${seq !== undefined ? ` ${seq}` : ''}`, () => {
      const err = this.events.find((e) => e.event === 'error');
      if (err) throw new Error(`go-control-plane peer: ${String(err.message)}`);
      if (this.exited) throw new Error(`go-control-plane peer ${this.exited}`);
      const i = this.events.findIndex((e) => e.event === kind && (seq === undefined || e.seq === seq));
      if (i < 0) return false;
      found = this.events.splice(i, 1)[0];
      return true;
    }, timeoutMs, progress);
    return found!;
  }

  send(v: unknown): void {
    this.proc.stdin!.write(`${JSON.stringify(v)}\n`);
  }

  /** Sets the snapshot: each type's resources as base64 Any bytes, with our per-type version. */
  setSnapshot(seq: number, nodes: number, snap: Snapshot): void {
    const types = Object.fromEntries(Object.entries(snap.resources).map(([t, s]) => [t, { version: s.version, resources: [...s.items.values()].map((r) => Buffer.from(Any.encode(r.any).finish()).toString('base64')) }]));
    this.send({ seq, nodes, types });
  }

  async memory(): Promise<{ heapAlloc: number; goroutines: number }> {
    this.send({ cmd: 'stats', gc: true });
    return (await this.next('stats', 10_000)).memory as { heapAlloc: number; goroutines: number };
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  }
}

/** The same run against go-control-plane: same clients, node ids, rounds and resources. */
async function peerRun(mode: 'sotw' | 'delta', count: number, rounds: number, ours: RunResult): Promise<PeerRunResult> {
  // The resources of every round: our control plane core (no server, no clients), the same app, the same changes.
  const core = new ControlPlaneCore(silentLogger);
  core.setAppConfig(app);
  const routing = new LocalRoutingSync(core);
  const versions = [versionsOf(core.current!)];
  const peer = new Peer(count);
  const children: ChildProcess[] = [];
  try {
    const listening = await peer.next('listening', 10_000);
    const port = Number(String(listening.address).split(':').pop());
    peer.setSnapshot(0, count, core.current!);
    const first = await peer.next('snapshot', 10_000, 0);
    const heap0 = (await peer.memory()).heapAlloc;
    const rss0 = vmRss(peer.pid);
    const t0 = performance.now();
    await forkClients(port, count, mode, children);
    await peer.next('synced', 180_000, 0);
    process.stderr.write(`${mode} ${count} (go-control-plane): synced in ${Math.round(performance.now() - t0)} ms\n`);
    const connectAndSyncMs = performance.now() - t0;
    const rssPerNodeBytes = (vmRss(peer.pid) - rss0) / count;
    const mem = await peer.memory();
    const cpu0 = cpuMs(peer.pid);
    const perNode: number[] = [];
    const all: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await routing.propose(change(r));
      versions.push(versionsOf(core.current!));
      peer.setSnapshot(r + 1, count, core.current!);
      const times = (await peer.next('acked', 30_000, r + 1)).times as number[];
      perNode.push(...times);
      all.push(Math.max(...times));
    }
    const cpuMsPerRound = (cpuMs(peer.pid) - cpu0) / rounds;
    return {
      server: 'go-control-plane v0.14.0 (SnapshotCache, ADS, one snapshot for all nodes; server.NewServer)',
      mode,
      clients: count,
      rounds,
      connectAndSyncMs: r2(connectAndSyncMs),
      perNodeAckMs: stats(perNode),
      allAckedMs: stats(all),
      heapPerNodeBytes: Math.round((mem.heapAlloc - heap0) / count),
      rssPerNodeBytes: Math.round(rssPerNodeBytes),
      cpuMsPerRound: r2(cpuMsPerRound),
      goroutinesPerNode: r2(mem.goroutines / count),
      streamsPerConnection: PER_CONN,
      clientProcesses: Math.min(PROCS, count),
      versions,
      sameResourcesAsOurs: versions.length === ours.versions.length && versions.every((v, i) => v === ours.versions[i]),
      reencoding: first.reencoding as PeerRunResult['reencoding'],
    };
  } finally {
    await stopClients(children);
    await peer.close();
  }
}

const results: RunResult[] = [];
const peers: PeerRunResult[] = [];
for (const mode of ['sotw', 'delta'] as const) {
  results.push(await run(mode, 1, ROUNDS));
  // Interleaved: ours, then the peer, for each count, so machine noise hits both.
  for (const n of COUNTS) {
    const ours = await run(mode, n, ROUNDS);
    results.push(ours);
    if (PEER) peers.push(await peerRun(mode, n, ROUNDS, ours));
  }
}
const byKey = (m: string, n: number) => results.find((r) => r.mode === m && r.clients === n)!;
const kb = (bytes: number) => Math.round(bytes / 102.4) / 10;
const summary = (['sotw', 'delta'] as const).flatMap((mode) => COUNTS.map((N) => {
  const base = byKey(mode, 1);
  const big = byKey(mode, N);
  const peer = peers.find((r) => r.mode === mode && r.clients === N);
  const ratioP99VsPeer = peer ? Math.round((big.allAckedMs.p99 / Math.max(peer.allAckedMs.p99, 0.01)) * 100) / 100 : undefined;
  return {
    mode,
    clients: N,
    allAckedP50Ms: big.allAckedMs.p50,
    allAckedP99Ms: big.allAckedMs.p99,
    perNodeP50Ms: big.perNodeAckMs.p50,
    perNodeP99Ms: big.perNodeAckMs.p99,
    heapPerNodeKB: kb(big.heapPerNodeBytes),
    rssPerNodeKB: kb(big.rssPerNodeBytes),
    controlPlaneCpuMsPerRound: big.cpuMsPerRound,
    streamsPerConnection: PER_CONN,
    targetRssUnder50KBPerClient: big.rssPerNodeBytes < 50 * 1024,
    baselineSingleClientP99Ms: base.allAckedMs.p99,
    ratioAllAckedP99VsSingleClient: Math.round((big.allAckedMs.p99 / Math.max(base.allAckedMs.p99, 0.01)) * 10) / 10,
    targetAllAckedUnder2s: big.allAckedMs.max < 2000,
    targetUnder100KBPerNode: big.heapPerNodeBytes < 100 * 1024,
    ...(peer
      ? {
          peer: {
            server: peer.server,
            allAckedP50Ms: peer.allAckedMs.p50,
            allAckedP99Ms: peer.allAckedMs.p99,
            allAckedMaxMs: peer.allAckedMs.max,
            perNodeP50Ms: peer.perNodeAckMs.p50,
            perNodeP99Ms: peer.perNodeAckMs.p99,
            heapPerNodeKB: kb(peer.heapPerNodeBytes),
            rssPerNodeKB: kb(peer.rssPerNodeBytes),
            cpuMsPerRound: peer.cpuMsPerRound,
            connectAndSyncMs: peer.connectAndSyncMs,
            sameResourcesAsOurs: peer.sameResourcesAsOurs,
          },
          ratioP99VsPeer,
          /** 'p99 <= 1.5x go-control-plane' (ours / peer all-ACKed p99); the moonshot is < 1. */
          targetP99Within1_5xPeer: ratioP99VsPeer! <= 1.5,
          moonshotFasterThanPeer: ratioP99VsPeer! < 1,
        }
      : {}),
  };
}));
const out = {
  benchmark: 'xds-fanout',
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  durationS: Math.round((Date.now() - started) / 1000),
  targets: { allAckedUnder2s: 'every all-ACKed time < 2 s', rssUnder50KBPerClient: 'RSS growth < 50 KB per client', ...(PEER ? { p99Within1_5xPeer: 'p99 <= 1.5x go-control-plane (all-ACKed p99, ours / peer; moonshot: faster)' } : {}) },
  summary,
  runs: results,
  ...(PEER ? { peerRuns: peers } : {}),
};
mkdirSync(join(here, 'results'), { recursive: true });
const written = writeBenchResult('xds-fanout', out);
process.stdout.write(`wrote ${written}\n`);
for (const s of summary) {
  console.log(
    `${s.mode.padEnd(5)} ${s.clients} clients: all ACKed p50 ${s.allAckedP50Ms} ms, p99 ${s.allAckedP99Ms} ms (x${s.ratioAllAckedP99VsSingleClient} vs 1 client: ${s.baselineSingleClientP99Ms} ms); per node p50 ${s.perNodeP50Ms} ms p99 ${s.perNodeP99Ms} ms; heap ${s.heapPerNodeKB} KB/node, RSS ${s.rssPerNodeKB} KB/client, CP CPU ${s.controlPlaneCpuMsPerRound} ms/round (${s.streamsPerConnection} stream(s) per connection)`,
  );
  if (s.peer) {
    console.log(
      `${s.mode.padEnd(5)} ${s.clients} clients, ours vs go-control-plane: all ACKed p50 ${s.allAckedP50Ms} / ${s.peer.allAckedP50Ms} ms, p99 ${s.allAckedP99Ms} / ${s.peer.allAckedP99Ms} ms (ratio ${s.ratioP99VsPeer}, target <= 1.5: ${s.targetP99Within1_5xPeer ? 'met' : 'NOT met'}${s.moonshotFasterThanPeer ? ', faster' : ''}); per node p99 ${s.perNodeP99Ms} / ${s.peer.perNodeP99Ms} ms; RSS ${s.rssPerNodeKB} / ${s.peer.rssPerNodeKB} KB/client; CPU ${s.controlPlaneCpuMsPerRound} / ${s.peer.cpuMsPerRound} ms/change${s.peer.sameResourcesAsOurs ? '' : ' (RESOURCES DIFFER)'}`,
    );
  }
}
console.log(`wrote ${relative(PROJECT_ROOT, written)} in ${out.durationS} s`);
process.exit(0);
