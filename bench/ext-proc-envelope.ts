// Benchmark: requests/s and p50/p99 through real Envoy for (a) plain proxy,
// (b) RSA-OAEP-256 envelope, (c) X25519 ECDH-ES, (d) session `dir`, at 1 KiB and
// 64 KiB, in one run, plus `openssl speed rsa2048` private ops/s as the ceiling.
// Load comes from wrk (native, so the load generator takes little of the two
// cores): throughput at --concurrency connections, latency at one connection.
// Baselines in the same run and the same Envoy: `envoy-only` (a listener without
// ext_proc), `floor` (the same four ext_proc phases answered by a no-op server
// in Go, bench/reference-ext-proc: the best any ext_proc server can do here) and
// the peer `peer-*` (bench/peer-ext-proc: the same `dir` and RSA-OAEP-256
// envelopes in Go with Go's standard crypto, what a user would run instead; the
// same identity directory, the same body files, its own listener with the same
// filter). Ratios against the targets are printed and written to
// bench/results/ext-proc-envelope.json. Loopback only, bounded: ~4 min.
// --quick (BENCH_QUICK=1): 1 KiB only and the rows the ratios against the floor
// and the peer need, to prove the bench runs (figures mean nothing).
//
//   node --import=tsx bench/ext-proc-envelope.ts [--seconds 2] [--rounds 3] [--concurrency 32]
import { execFileSync, spawnSync } from 'node:child_process';
import { constants, privateDecrypt, publicEncrypt } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { isQuick, resultPath, writeBenchResult } from './lib/results.ts';
import { cpuMs } from './lib/proc-cpu.ts';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadOrCreateAppIdentity } from '../platforms/index.ts';
import { Supervised } from '../dev/child-process.ts';
import { EnvoyProcess } from '../dev/envoy-process.ts';
import { RUNTIME_DEFAULTS } from '../envoy-bootstrap/index.ts';
import { freePort } from '../dev/free-port.ts';
import { PROJECT_ROOT } from '../dev/toolchain.ts';
import { openResponse, sealRequest, sealSessionRequest, sessionFromResponse, SESSION_HEADER, type Sealed } from '../ext-proc/index.ts';
import { deriveSessionKey } from '../ext-proc/index.ts';
import { onlineIngressListener, onlineStaticBootstrap } from '../test/helpers/ext-proc.ts';
import { plainHttpListener, staticCluster } from '../test/helpers/static-bootstrap.ts';
import type { AppIdentity } from '../platforms/index.ts';
import { CONTENT_ENCS, KEY_ALGS } from '../ext-proc/index.ts';
import { EnvelopeExchange, type EnvelopeContext } from '../ext-proc/index.ts';
import { SessionTable } from '../ext-proc/index.ts';

/** Non-200 outcomes by kind (wrk: status = non-2xx/3xx, or a socket error), over the whole run. */
const statuses: Record<string, number> = {};
interface Result { scenario: string; size: number; concurrency: number; requests: number; errors: number; rps: number; p50ms: number; p99ms: number; extProcCpuUsPerReq: number; envoyCpuUsPerReq: number; appCpuUsPerReq: number; machineBusyPct: number }

const WRK_SCRIPT = join(PROJECT_ROOT, 'bench/wrk-post.lua');
/** How long the in-process measurements (envelope core, bare RSA) run. */
const CORE_MS = isQuick() ? 300 : 1500;
/** --quick: the rows the ratios against the floor and the peer need (1 KiB only). */
const QUICK_SCENARIOS = new Set(['envoy-only', 'floor', 'rsa-oaep-256', 'session-dir', 'peer-rsa-oaep-256', 'peer-session-dir']);

/** Runs wrk against `url` for `seconds` with `concurrency` connections, POSTing the bodies of `file` in turn. */
function wrk(url: URL, file: string, contentType: string, concurrency: number, seconds: number): { n: number; errors: number; rps: number; p50ms: number; p99ms: number } {
  const out = execFileSync('wrk', ['-t', String(Math.min(2, concurrency)), '-c', String(concurrency), '-d', `${seconds}s`, '--timeout', '10s', '-s', WRK_SCRIPT, url.href], {
    encoding: 'utf8',
    env: { ...process.env, WRK_BODIES: file, WRK_CTYPE: contentType },
  });
  const line = out.split('\n').find((l) => l.startsWith('WRK_RESULT '));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(line.slice('WRK_RESULT '.length)) as { requests: number; durationUs: number; status: number; connect: number; read: number; write: number; timeout: number; p50Us: number; p99Us: number };
  for (const k of ['status', 'connect', 'read', 'write', 'timeout'] as const) if (r[k]) statuses[k] = (statuses[k] ?? 0) + r[k];
  const errors = r.status + r.connect + r.read + r.write + r.timeout;
  return { n: r.requests, errors, rps: Math.round(r.requests / (r.durationUs / 1e6)), p50ms: r.p50Us / 1000, p99ms: r.p99Us / 1000 };
}

/** Idle time of the whole machine in ms (all cores, from /proc/stat; 100 Hz ticks). */
function machineIdleMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return (Number(f[4]) + Number(f[5])) * 10;
}


/**
 * The envelope core alone (no gRPC, no Envoy): decrypt request + encrypt response
 * per op, in this process, for 1.5 s (0.3 s in --quick). Splits the gap to the RSA ceiling into crypto
 * vs transport.
 */
function coreOpsPerSec(identity: AppIdentity, bodies: Buffer[], sessions: SessionTable): number {
  const ctx: EnvelopeContext = { identity, sessions, compat: 'rfc7516', plain: 'allow', maxBodyBytes: 1 << 20, algorithms: KEY_ALGS, encryptions: CONTENT_ENCS };
  const headers = new Map([['content-type', 'application/jose+json']]);
  const reply = Buffer.alloc(1024, 'r');
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < CORE_MS) {
    const ex = new EnvelopeExchange(ctx);
    ex.onRequestHeaders(headers, false);
    if (ex.onRequestBody(bodies[n % bodies.length]!).kind !== 'replace') throw new Error('core bench: envelope not decrypted');
    ex.onResponseBody(reply);
    n++;
  }
  return Math.round((n * 1000) / (performance.now() - t0));
}

/** Bare node:crypto RSA-OAEP-256 private decrypts/s with a cached KeyObject (the in-process ceiling). */
function nodeRsaDecryptPerSec(identity: AppIdentity): number {
  const ek = publicEncrypt({ key: identity.keys.rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.alloc(16, 1));
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < CORE_MS) {
    privateDecrypt({ key: identity.keys.rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ek);
    n++;
  }
  return Math.round((n * 1000) / (performance.now() - t0));
}

export interface BaselinePorts {
  /** `envoy-only`: no ext_proc filter (the plain Envoy baseline of target (d) and of the added latency). */
  barePort: number;
  /** `floor`: the ingress whose ext_proc filter talks to the no-op reference processor on `referencePort`. */
  floorPort: number;
  referencePort: number;
  /** `peer`: the ingress whose ext_proc filter talks to the Go peer on `peerExtProcPort`, its cluster rotated like ours. */
  peerPort: number;
  peerExtProcPort: number;
  maxRequestsPerConnection: number;
  /** The same as `dir` and `floor` over Unix sockets: our ext-proc (a second process) and the floor. */
  uds: { dirPort: number; extProcSocket: string; floorPort: number; referenceSocket: string };
}

/**
 * Adds the baseline listeners to the online bootstrap, each routing to the same
 * `app` cluster; every ext_proc one is a copy of the ingress (the same filter)
 * pointed at its own cluster.
 */
function withBaselines(bootstrap: Record<string, unknown>, b: BaselinePorts): Record<string, unknown> {
  const sr = bootstrap.static_resources as { listeners: Record<string, unknown>[]; clusters: Record<string, unknown>[] };
  const listeners = [
    plainHttpListener('envoy-only', b.barePort, 'app', 'envoy_only'),
    onlineIngressListener('floor', b.floorPort, 'ext_proc_floor'),
    onlineIngressListener('peer', b.peerPort, 'ext_proc_peer'),
    onlineIngressListener('uds', b.uds.dirPort, 'ext_proc_uds'),
    onlineIngressListener('floor-uds', b.uds.floorPort, 'ext_proc_floor_uds'),
  ];
  const clusters = [
    staticCluster('ext_proc_floor', b.referencePort, { http2: true }),
    staticCluster('ext_proc_peer', b.peerExtProcPort, { http2: true, maxRequestsPerConnection: b.maxRequestsPerConnection }),
    staticCluster('ext_proc_uds', b.uds.extProcSocket, { http2: true }),
    staticCluster('ext_proc_floor_uds', b.uds.referenceSocket, { http2: true }),
  ];
  return { ...bootstrap, static_resources: { ...sr, listeners: [...sr.listeners, ...listeners], clusters: [...sr.clusters, ...clusters] } };
}

/**
 * Builds a Go server of bench/ (`reference-ext-proc`, the floor; `peer-ext-proc`,
 * the peer) into `outDir`/<name> (default .tools/bin; a test passes its own
 * directory so that it never rewrites a binary a bench is running) and returns
 * its path. Cached by the Go toolchain; modules come from the Go module proxy
 * (GOFLAGS=-mod=mod).
 */
export function buildGoBenchServer(name: 'reference-ext-proc' | 'peer-ext-proc', outDir = join(PROJECT_ROOT, '.tools/bin')): string {
  const bin = join(outDir, name);
  try {
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: join(PROJECT_ROOT, 'bench', name), stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GOFLAGS: '-mod=mod' } });
  } catch (e) {
    throw new Error(`cannot build bench/${name} (needs Go and the Go module proxy): ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
  return bin;
}

function opensslRsaSignPerSec(seconds: number): number {
  const out = execFileSync('openssl', ['speed', '-seconds', String(seconds), 'rsa2048'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const line = out.split('\n').find((l) => /^rsa\s+2048 bits/.test(l.trim()));
  if (!line) throw new Error(`cannot parse openssl speed output:\n${out}`);
  const nums = line.trim().split(/\s+/).slice(3).map(Number);
  return nums[2]!; // sign/s = private-key ops/s
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'ext-proc-processes': { type: 'string', default: '1' }, 'max-requests-per-connection': { type: 'string', default: '500' }, seconds: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' }, out: { type: 'string', default: resultPath('ext-proc-envelope') }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write('usage: ext-proc-envelope [--seconds 2] [--rounds 3] [--concurrency 32] [--ext-proc-processes 1] [--max-requests-per-connection 500] [--out FILE]\n  --seconds: per scenario, size and round at full concurrency (1 s at one connection)\n  --ext-proc-processes: ext-proc processes of the same identity behind Envoy (round robin)\n');
    return 0;
  }
  const seconds = Math.max(1, Math.round(Number(values.seconds)));
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  const work = mkdtempSync(join(tmpdir(), 'bench-ext-proc-'));
  const idDir = join(work, 'identity');
  const identity = await loadOrCreateAppIdentity(idDir, 'bench');
  const referenceBin = buildGoBenchServer('reference-ext-proc');
  const peerBin = buildGoBenchServer('peer-ext-proc');
  const procs: Supervised[] = [];
  let envoy: EnvoyProcess | undefined;
  try {
    const appPort = await freePort();
    const app = new Supervised({ name: 'app', bin: process.execPath, args: ['--import=tsx', join(PROJECT_ROOT, 'dev/sample-app.ts'), '--port', String(appPort)], cwd: PROJECT_ROOT });
    procs.push(app);
    const extProcs: { port: number; proc: Supervised }[] = [];
    for (let i = 0; i < Number(values['ext-proc-processes']); i++) {
      const port = await freePort();
      const proc = new Supervised({ name: `ext-proc-${i}`, bin: process.execPath, args: [...(process.env.EXT_PROC_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import=tsx', join(PROJECT_ROOT, 'ext-proc/cli.ts'), '--port', String(port), '--identity-dir', idDir], cwd: PROJECT_ROOT, env: { ...process.env, LOG_LEVEL: 'warn' } });
      procs.push(proc);
      extProcs.push({ port, proc });
    }
    if (extProcs.length === 0) throw new Error('--ext-proc-processes must be at least 1');
    const refPort = await freePort();
    const ref = new Supervised({ name: 'reference-ext-proc', bin: referenceBin, args: ['--port', String(refPort)], cwd: PROJECT_ROOT });
    procs.push(ref);
    // The Go peer: the same envelopes with the same identity directory (so our sessions' tickets open there too).
    const peerExtProcPort = await freePort();
    const peer = new Supervised({ name: 'peer-ext-proc', bin: peerBin, args: ['--port', String(peerExtProcPort), '--identity-dir', idDir], cwd: PROJECT_ROOT });
    procs.push(peer);
    // Unix-socket twins: an ext-proc of the same identity and the floor, each on a socket.
    const extProcSocket = join(work, 'run', 'ext-proc.sock');
    const referenceSocket = join(work, 'run', 'floor.sock');
    mkdirSync(join(work, 'run'), { recursive: true, mode: 0o700 });
    const udsExtProc = new Supervised({ name: 'ext-proc-uds', bin: process.execPath, args: [...(process.env.EXT_PROC_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import=tsx', join(PROJECT_ROOT, 'ext-proc/cli.ts'), '--socket', extProcSocket, '--identity-dir', idDir], cwd: PROJECT_ROOT, env: { ...process.env, LOG_LEVEL: 'warn' } });
    const refUds = new Supervised({ name: 'reference-ext-proc-uds', bin: referenceBin, args: ['--socket', referenceSocket], cwd: PROJECT_ROOT });
    procs.push(udsExtProc, refUds);
    await app.waitFor(async () => /listening/.test(app.outputTail()), 'listening');
    for (const { proc } of extProcs) await proc.waitFor(async () => /gRPC on/.test(proc.outputTail()), 'listening');
    await ref.waitFor(async () => /gRPC on/.test(ref.outputTail()), 'listening');
    await peer.waitFor(async () => /gRPC on/.test(peer.outputTail()), 'listening');
    await udsExtProc.waitFor(async () => /gRPC on/.test(udsExtProc.outputTail()), 'listening');
    await refUds.waitFor(async () => /gRPC on/.test(refUds.outputTail()), 'listening');
    const [listenPort, barePort, floorPort, peerPort, udsPort, floorUdsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const maxRequestsPerConnection = Number(values['max-requests-per-connection']);
    const bootstrap = onlineStaticBootstrap({ listenPort, appPort, extProcPort: extProcs[0]!.port, extProcReplicaPorts: extProcs.slice(1).map((e) => e.port), extProcMaxRequestsPerConnection: maxRequestsPerConnection });
    envoy = await EnvoyProcess.start({ name: 'bench-ext-proc', bootstrap: withBaselines(bootstrap, { barePort, floorPort, referencePort: refPort, peerPort, peerExtProcPort, maxRequestsPerConnection, uds: { dirPort: udsPort, extProcSocket, floorPort: floorUdsPort, referenceSocket } }) });
    const url = new URL(`http://127.0.0.1:${listenPort}/bench`);
    const bareUrl = new URL(`http://127.0.0.1:${barePort}/bench`);
    const floorUrl = new URL(`http://127.0.0.1:${floorPort}/bench`);
    const peerUrl = new URL(`http://127.0.0.1:${peerPort}/bench`);
    const udsUrl = new URL(`http://127.0.0.1:${udsPort}/bench`);
    const floorUdsUrl = new URL(`http://127.0.0.1:${floorUdsPort}/bench`);

    const opensslSeconds = isQuick() ? 1 : 3;
    const rsaBefore = opensslRsaSignPerSec(opensslSeconds);
    const POOL = 128;
    // Scenarios are interleaved in `rounds` (each round runs every scenario and size
    // once) and each figure is the median over rounds, so that the varying load of a
    // shared machine hits every scenario alike.
    type Scenario = { name: string; size: number; file: string; contentType: string; url: URL };
    const scenarios: Scenario[] = [];
    const bodiesFile = (name: string, size: number, bodies: Array<string | Buffer>): string => {
      const file = join(work, `${name}-${size}.txt`);
      // JWE JSON and compact forms are single-line; the payload is ASCII 'a's.
      writeFileSync(file, `${bodies.map((b) => b.toString()).join('\n')}\n`);
      return file;
    };
    for (const size of isQuick() ? [1024] : [1024, 64 * 1024]) {
      const payload = Buffer.alloc(size, 'a');
      // Each envelope kind is checked end to end once before it is loaded, through
      // our ext-proc and through the peer: a wrong processor fails the bench here.
      const roundTrip = async (s: Sealed, extra: Record<string, string> = {}, target = url): Promise<Response> => {
        const r = await fetch(target, { method: 'POST', body: s.body, headers: { 'content-type': s.contentType, ...extra } });
        const text = await r.text();
        let opened: Buffer | undefined;
        try {
          opened = openResponse(text, s);
        } catch {
          opened = undefined;
        }
        if (r.status !== 200 || !opened?.equals(Buffer.concat([Buffer.from('I got your message: '), payload]))) {
          throw new Error(`envelope check failed through ${target.href === peerUrl.href ? 'the Go peer' : 'ext-proc'} (${r.status}${opened ? ', wrong plaintext' : `: ${text.slice(0, 200)}`})`);
        }
        return r;
      };
      const first = sealRequest(payload, { jwk: identity.keys.x25519.publicJwk });
      const session = sessionFromResponse((await roundTrip(first, { [SESSION_HEADER]: 'new' })).headers, first);
      const rsa = Array.from({ length: POOL }, () => sealRequest(payload, { jwk: identity.keys.rsa.publicJwk }));
      const ecdh = Array.from({ length: POOL }, () => sealRequest(payload, { jwk: identity.keys.x25519.publicJwk }));
      const dir = Array.from({ length: POOL }, () => sealSessionRequest(payload, session));
      for (const s of [rsa[0]!, ecdh[0]!, dir[0]!]) await roundTrip(s);
      // The peer opens the same RSA envelopes and the session ticket our ext-proc issued.
      for (const s of [rsa[1]!, dir[1]!]) await roundTrip(s, {}, peerUrl);
      const plain = bodiesFile('plain', size, [payload]);
      const dirFile = bodiesFile('dir', size, dir.map((s) => s.body));
      const rsaFile = bodiesFile('rsa', size, rsa.map((s) => s.body));
      const jose = 'application/jose+json';
      const all: Scenario[] = [
        { name: 'envoy-only', size, file: plain, contentType: 'application/octet-stream', url: bareUrl },
        { name: 'plain', size, file: plain, contentType: 'application/octet-stream', url },
        { name: 'rsa-oaep-256', size, file: rsaFile, contentType: jose, url },
        { name: 'ecdh-es-x25519', size, file: bodiesFile('ecdh', size, ecdh.map((s) => s.body)), contentType: jose, url },
        { name: 'session-dir', size, file: dirFile, contentType: jose, url },
        // The same session bodies through the no-op processor: all four phases, no work.
        { name: 'floor', size, file: dirFile, contentType: jose, url: floorUrl },
        // Envoy <-> ext_proc over a Unix socket instead of loopback TCP.
        { name: 'session-dir-uds', size, file: dirFile, contentType: jose, url: udsUrl },
        { name: 'floor-uds', size, file: dirFile, contentType: jose, url: floorUdsUrl },
        // The Go peer: the same RSA and session bodies (the same files) through its own listener.
        { name: 'peer-rsa-oaep-256', size, file: rsaFile, contentType: jose, url: peerUrl },
        { name: 'peer-session-dir', size, file: dirFile, contentType: jose, url: peerUrl },
      ];
      scenarios.push(...all.filter((sc) => !isQuick() || QUICK_SCENARIOS.has(sc.name)));
    }
    const samples = new Map<string, Result[]>();
    if (!isQuick()) for (const sc of scenarios) wrk(sc.url, sc.file, sc.contentType, concurrency, 1); // warm up (not in --quick)
    for (const k of Object.keys(statuses)) delete statuses[k];
    for (let round = 0; round < rounds; round++) {
      for (const sc of scenarios) {
        for (const c of [concurrency, 1]) {
          // The processor that serves this row: ours over TCP or the socket, the floor's or the peer's.
          const servingPids: Array<number | undefined> = sc.name === 'session-dir-uds' ? [udsExtProc.pid] : sc.name === 'floor' ? [ref.pid] : sc.name === 'floor-uds' ? [refUds.pid] : sc.name.startsWith('peer-') ? [peer.pid] : extProcs.map((e) => e.proc.pid);
          const extProcCpuMs = (): number => servingPids.reduce<number>((a, pid) => a + cpuMs(pid), 0);
          const pids = [envoy.proc.pid, app.pid];
          const before = [extProcCpuMs(), ...pids.map(cpuMs)];
          const idle0 = machineIdleMs();
          const t0 = performance.now();
          const m = wrk(sc.url, sc.file, sc.contentType, c, c === 1 ? Math.max(1, Math.round(seconds / 2)) : seconds);
          const wall = performance.now() - t0;
          const idle1 = machineIdleMs();
          const [dEp, dEnvoy, dApp] = [extProcCpuMs(), ...pids.map(cpuMs)].map((v, i) => v - before[i]!);
          const perReq = (ms: number) => Math.round((ms * 1000) / Math.max(1, m.n));
          const res: Result = {
            scenario: sc.name, size: sc.size, concurrency: c, requests: m.n, errors: m.errors, rps: m.rps, p50ms: +m.p50ms.toFixed(3), p99ms: +m.p99ms.toFixed(3),
            // CPU per request: less sensitive than req/s to what else runs on the machine.
            extProcCpuUsPerReq: sc.name === 'envoy-only' ? 0 : perReq(dEp!), envoyCpuUsPerReq: perReq(dEnvoy!), appCpuUsPerReq: perReq(dApp!),
            machineBusyPct: Math.round(100 * (1 - (idle1 - idle0) / (wall * cpus().length))),
          };
          const k = `${sc.name}/${sc.size}/${c}`;
          samples.set(k, [...(samples.get(k) ?? []), res]);
        }
      }
      process.stdout.write(`round ${round + 1}/${rounds} done\n`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const results: Result[] = [...samples.values()].map((rs) => ({
      ...rs[0]!,
      requests: rs.reduce((a, r) => a + r.requests, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      rps: median(rs.map((r) => r.rps)),
      p50ms: median(rs.map((r) => r.p50ms)),
      p99ms: median(rs.map((r) => r.p99ms)),
      extProcCpuUsPerReq: median(rs.map((r) => r.extProcCpuUsPerReq)),
      envoyCpuUsPerReq: median(rs.map((r) => r.envoyCpuUsPerReq)),
      appCpuUsPerReq: median(rs.map((r) => r.appCpuUsPerReq)),
      machineBusyPct: median(rs.map((r) => r.machineBusyPct)),
    }));
    for (const res of results) {
      process.stdout.write(`${res.scenario.padEnd(18)} ${String(res.size).padStart(6)} B  c=${String(res.concurrency).padEnd(2)} ${String(res.rps).padStart(6)} req/s  p50 ${res.p50ms.toFixed(2)} ms  p99 ${res.p99ms.toFixed(2)} ms  errors ${res.errors}  cpu/req ext-proc ${res.extProcCpuUsPerReq} us envoy ${res.envoyCpuUsPerReq} us app ${res.appCpuUsPerReq} us  machine ${res.machineBusyPct}% busy\n`);
    }
    process.stdout.write(`openssl speed -seconds ${opensslSeconds} rsa2048 ...\n`);
    // Measured after the load (and once more before it) so that both see the same
    // machine; the higher value is the ceiling (conservative for the target).
    const rsaCeiling = Math.max(rsaBefore, opensslRsaSignPerSec(opensslSeconds));
    const coreSessions = new SessionTable({ ttlMs: 3600_000, maxEntries: 4, maxUses: 1 << 30, ticketKey: Buffer.alloc(32, 7) });
    const coreSession = coreSessions.create(Buffer.alloc(16, 9), 'A128GCM');
    const kb = Buffer.alloc(1024, 'a');
    // Adjacent in time, so the load of the machine is about the same for both.
    const nodeRsa = nodeRsaDecryptPerSec(identity);
    const core = {
      'rsa-oaep-256': coreOpsPerSec(identity, Array.from({ length: 64 }, () => Buffer.from(sealRequest(kb, { jwk: identity.keys.rsa.publicJwk }).body)), coreSessions),
      'ecdh-es-x25519': coreOpsPerSec(identity, Array.from({ length: 64 }, () => Buffer.from(sealRequest(kb, { jwk: identity.keys.x25519.publicJwk }).body)), coreSessions),
      'session-dir': coreOpsPerSec(identity, Array.from({ length: 64 }, () => Buffer.from(sealSessionRequest(kb, { id: coreSession.id, key: deriveSessionKey(Buffer.alloc(16, 9), 'A128GCM', coreSession.id), enc: 'A128GCM', expiresAt: 0 }).body)), coreSessions),
    };
    process.stdout.write(`node:crypto RSA-OAEP-256 privateDecrypt alone: ${nodeRsa} ops/s\n`);
    process.stdout.write(`envelope core alone (1 KiB, decrypt + encrypt, no gRPC): ${JSON.stringify(core)} ops/s\n`);
    // In --quick some rows are not measured: their ratios are null.
    const get = (s: string, size: number, c: number): Result | undefined => results.find((r) => r.scenario === s && r.size === size && r.concurrency === c);
    const rps = (s: string, size: number, c = concurrency): number | undefined => get(s, size, c)?.rps;
    const ratio = (a: number | undefined, b: number | undefined): number | null => (a === undefined || b === undefined ? null : +(a / b).toFixed(3));
    const atLeast = (x: number | null | undefined, min: number): boolean => x !== null && x !== undefined && x >= min;
    const atMost = (x: number | null | undefined, max: number): boolean => x !== null && x !== undefined && x <= max;
    /** Added p50 at one connection, 1 KiB, of scenario `s` over `base`. */
    const lowP50 = (s: string, base = 'envoy-only'): number | null => {
      const [a, b] = [get(s, 1024, 1), get(base, 1024, 1)];
      return a && b ? +(a.p50ms - b.p50ms).toFixed(3) : null;
    };
    const floor1k = get('floor', 1024, concurrency)!;
    /** The processor's CPU per request at full concurrency, ours and the peer's, per size. */
    const cpuPerReq = (size: number) => Object.fromEntries(['rsa-oaep-256', 'peer-rsa-oaep-256', 'session-dir', 'peer-session-dir'].map((sc) => [sc, get(sc, size, concurrency)?.extProcCpuUsPerReq ?? null]));
    const p50Ratio = (peerRow: string, ours: string) => ratio(get(peerRow, 1024, 1)?.p50ms, get(ours, 1024, 1)?.p50ms);
    const ratios = {
      rsaCeilingOpsPerSec: rsaCeiling,
      coreOpsPerSec1k: core,
      rsaCoreVsCeiling1k: ratio(core['rsa-oaep-256'], rsaCeiling),
      nodeRsaDecryptOpsPerSec: nodeRsa,
      /** JOSE parsing + AES-GCM both ways on top of the RSA op (1 = free). */
      rsaCoreVsNodeRsa1k: ratio(core['rsa-oaep-256'], nodeRsa),
      rsaVsCeiling1k: ratio(rps('rsa-oaep-256', 1024), rsaCeiling),
      // (d) and the added latency are against `envoy-only` (the same Envoy and app,
      // a listener without the ext_proc filter).
      sessionVsEnvoyOnly1k: ratio(rps('session-dir', 1024), rps('envoy-only', 1024)),
      sessionVsEnvoyOnly64k: ratio(rps('session-dir', 65536), rps('envoy-only', 65536)),
      ecdhVsEnvoyOnly1k: ratio(rps('ecdh-es-x25519', 1024), rps('envoy-only', 1024)),
      plainVsEnvoyOnly1k: ratio(rps('plain', 1024), rps('envoy-only', 1024)),
      // The floor: Envoy's four-phase side stream with a server that does nothing.
      floorVsEnvoyOnly1k: ratio(rps('floor', 1024), rps('envoy-only', 1024)),
      floorVsEnvoyOnly64k: ratio(rps('floor', 65536), rps('envoy-only', 65536)),
      sessionVsFloor1k: ratio(rps('session-dir', 1024), rps('floor', 1024)),
      rsaVsFloor1k: ratio(rps('rsa-oaep-256', 1024), rps('floor', 1024)),
      // An upper bound for (b) from the floor: the machine's CPU per floor request
      // (all processes, at full utilisation) plus one RSA op at the ceiling's speed.
      rsaBoundFromFloor1k: ratio((cpus().length * 1e6) / ((cpus().length * 1e6 * (floor1k.machineBusyPct / 100)) / floor1k.rps + 1e6 / rsaCeiling), rsaCeiling),
      // Envoy <-> ext_proc over a Unix socket, against the same over loopback TCP.
      sessionUdsVsTcp1k: ratio(rps('session-dir-uds', 1024), rps('session-dir', 1024)),
      sessionUdsVsTcp64k: ratio(rps('session-dir-uds', 65536), rps('session-dir', 65536)),
      floorUdsVsTcp1k: ratio(rps('floor-uds', 1024), rps('floor', 1024)),
      sessionUdsVsEnvoyOnly1k: ratio(rps('session-dir-uds', 1024), rps('envoy-only', 1024)),
      sessionUdsVsFloorUds1k: ratio(rps('session-dir-uds', 1024), rps('floor-uds', 1024)),
      // The Go peer (bench/peer-ext-proc): ours / peer req/s at full concurrency.
      rsaVsPeer1k: ratio(rps('rsa-oaep-256', 1024), rps('peer-rsa-oaep-256', 1024)),
      sessionVsPeer1k: ratio(rps('session-dir', 1024), rps('peer-session-dir', 1024)),
      rsaVsPeer64k: ratio(rps('rsa-oaep-256', 65536), rps('peer-rsa-oaep-256', 65536)),
      sessionVsPeer64k: ratio(rps('session-dir', 65536), rps('peer-session-dir', 65536)),
      // At one connection: the peer's p50 / ours (1 = as fast; 0.7 = ours takes 1/0.7 of its time).
      rsaVsPeerLowLoadP50_1k: p50Ratio('peer-rsa-oaep-256', 'rsa-oaep-256'),
      sessionVsPeerLowLoadP50_1k: p50Ratio('peer-session-dir', 'session-dir'),
      peerSessionVsFloor1k: ratio(rps('peer-session-dir', 1024), rps('floor', 1024)),
      peerRsaVsCeiling1k: ratio(rps('peer-rsa-oaep-256', 1024), rsaCeiling),
      // The serving processor's CPU per request (us) at full concurrency, ours and the peer's.
      processorCpuUsPerReq: { '1024': cpuPerReq(1024), '65536': cpuPerReq(65536) },
      rsaCpuVsPeer1k: ratio(get('rsa-oaep-256', 1024, concurrency)?.extProcCpuUsPerReq, get('peer-rsa-oaep-256', 1024, concurrency)?.extProcCpuUsPerReq),
      sessionCpuVsPeer1k: ratio(get('session-dir', 1024, concurrency)?.extProcCpuUsPerReq, get('peer-session-dir', 1024, concurrency)?.extProcCpuUsPerReq),
      addedP50MsLowLoad1k: Object.fromEntries(['plain', 'rsa-oaep-256', 'ecdh-es-x25519', 'session-dir', 'session-dir-uds', 'floor', 'floor-uds', 'peer-rsa-oaep-256', 'peer-session-dir'].map((s) => [s, lowP50(s)])),
      addedP50MsOverFloorLowLoad1k: Object.fromEntries(['rsa-oaep-256', 'ecdh-es-x25519', 'session-dir', 'peer-rsa-oaep-256', 'peer-session-dir'].map((s) => [s, lowP50(s, 'floor')])),
    };
    const targets = {
      'rsa >= 60% of RSA-2048 ceiling': atLeast(ratios.rsaVsCeiling1k, 0.6),
      'session dir >= 40% of envoy-only (1 KiB)': atLeast(ratios.sessionVsEnvoyOnly1k, 0.4),
      'added p50 <= 1 ms at low load (session dir, 1 KiB)': atMost(ratios.addedP50MsLowLoad1k['session-dir'], 1),
      'added p50 <= 1 ms at low load (rsa, 1 KiB)': atMost(ratios.addedP50MsLowLoad1k['rsa-oaep-256'], 1),
      // Throughput at full concurrency and latency at one connection, both at 70%.
      'ours >= 70% of the Go peer (dir, 1 KiB)': atLeast(ratios.sessionVsPeer1k, 0.7) && atLeast(ratios.sessionVsPeerLowLoadP50_1k, 0.7),
      'ours >= 70% of the Go peer (rsa, 1 KiB)': atLeast(ratios.rsaVsPeer1k, 0.7) && atLeast(ratios.rsaVsPeerLowLoadP50_1k, 0.7),
    };
    const floorAllows = {
      'rsa >= 60% of RSA-2048 ceiling': atLeast(ratios.rsaBoundFromFloor1k, 0.6),
      'session dir >= 40% of envoy-only (1 KiB)': atLeast(ratios.floorVsEnvoyOnly1k, 0.4),
      'added p50 <= 1 ms at low load (1 KiB)': atMost(ratios.addedP50MsLowLoad1k.floor, 1),
    };
    const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);
    process.stdout.write(`\nRSA-2048 private ops/s (openssl, 1 thread): ${rsaCeiling}\n`);
    process.stdout.write(`(b) RSA envelope / ceiling: ${pct(ratios.rsaVsCeiling1k)} (target >= 60%); RSA envelope core alone (no gRPC/Envoy) / ceiling: ${pct(ratios.rsaCoreVsCeiling1k)}\n`);
    process.stdout.write(`    bound from the floor (its machine CPU per request + one RSA op at the ceiling, all cores busy): ${pct(ratios.rsaBoundFromFloor1k)}\n`);
    process.stdout.write(`(d) session dir / envoy-only: 1 KiB ${pct(ratios.sessionVsEnvoyOnly1k)}, 64 KiB ${pct(ratios.sessionVsEnvoyOnly64k)} (target >= 40%)\n`);
    process.stdout.write(`    floor (no-op ext_proc, same phases) / envoy-only: 1 KiB ${pct(ratios.floorVsEnvoyOnly1k)}, 64 KiB ${pct(ratios.floorVsEnvoyOnly64k)}; session dir / floor 1 KiB ${pct(ratios.sessionVsFloor1k)}, rsa / floor ${pct(ratios.rsaVsFloor1k)}\n`);
    process.stdout.write(`Unix socket / loopback TCP (Envoy <-> ext_proc): session dir 1 KiB ${pct(ratios.sessionUdsVsTcp1k)}, 64 KiB ${pct(ratios.sessionUdsVsTcp64k)}; floor 1 KiB ${pct(ratios.floorUdsVsTcp1k)}; session dir over UDS / envoy-only 1 KiB ${pct(ratios.sessionUdsVsEnvoyOnly1k)}, / floor over UDS ${pct(ratios.sessionUdsVsFloorUds1k)}\n`);
    process.stdout.write(`added p50 over envoy-only at c=1, 1 KiB: ${JSON.stringify(ratios.addedP50MsLowLoad1k)} ms (target <= 1 ms)\n`);
    process.stdout.write(`    added p50 over the floor at c=1, 1 KiB: ${JSON.stringify(ratios.addedP50MsOverFloorLowLoad1k)} ms\n`);
    process.stdout.write(`Go peer (bench/peer-ext-proc) / ours: req/s at c=${concurrency} ours / peer: dir 1 KiB ${pct(ratios.sessionVsPeer1k)}, 64 KiB ${pct(ratios.sessionVsPeer64k)}; rsa 1 KiB ${pct(ratios.rsaVsPeer1k)}, 64 KiB ${pct(ratios.rsaVsPeer64k)} (target >= 70% at 1 KiB)\n`);
    process.stdout.write(`    c=1 p50 peer / ours (1 KiB): dir ${pct(ratios.sessionVsPeerLowLoadP50_1k)}, rsa ${pct(ratios.rsaVsPeerLowLoadP50_1k)} (target >= 70%); added p50 over envoy-only: peer dir +${ratios.addedP50MsLowLoad1k['peer-session-dir']} ms, peer rsa +${ratios.addedP50MsLowLoad1k['peer-rsa-oaep-256']} ms (ours +${ratios.addedP50MsLowLoad1k['session-dir']}, +${ratios.addedP50MsLowLoad1k['rsa-oaep-256']})\n`);
    process.stdout.write(`    processor CPU per request at c=${concurrency} (us): ${JSON.stringify(ratios.processorCpuUsPerReq)}; ours / peer 1 KiB: dir ${pct(ratios.sessionCpuVsPeer1k)}, rsa ${pct(ratios.rsaCpuVsPeer1k)}; peer dir / floor ${pct(ratios.peerSessionVsFloor1k)}, peer rsa / ceiling ${pct(ratios.peerRsaVsCeiling1k)}\n`);
    for (const [k, ok] of Object.entries(targets)) process.stdout.write(`${ok ? 'MET    ' : 'NOT MET'} ${k}\n`);
    for (const [k, ok] of Object.entries(floorAllows)) process.stdout.write(`floor ${ok ? 'allows ' : 'rules out'} ${k} on this machine\n`);
    process.stdout.write(`non-200 outcomes: ${JSON.stringify(statuses)}\n`);
    const extProcStats = Object.fromEntries([...(await envoy.stats('ext_proc')).entries()].filter(([, v]) => v !== 0));
    // Side-stream resets per processor cluster: a floor that resets its streams is no floor.
    const sideStreams: Record<string, { streams: number; rxReset: number; txReset: number }> = {};
    for (const c of ['ext_proc', 'ext_proc_uds', 'ext_proc_floor', 'ext_proc_floor_uds', 'ext_proc_peer']) {
      const st = await envoy.stats(`cluster.${c}.upstream_rq_`);
      sideStreams[c] = { streams: st.get(`cluster.${c}.upstream_rq_total`) ?? 0, rxReset: st.get(`cluster.${c}.upstream_rq_rx_reset`) ?? 0, txReset: st.get(`cluster.${c}.upstream_rq_tx_reset`) ?? 0 };
    }
    process.stdout.write(`side streams (total, rx_reset, tx_reset): ${JSON.stringify(sideStreams)}\n`);
    process.stdout.write(`envoy ext_proc stats: ${JSON.stringify(extProcStats)}\n`);
    const out = { date: new Date().toISOString(), machine: { cpus: cpus().length, node: process.version, envoy: EnvoyProcess.version(), loadGenerator: spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0]!.trim() }, settings: { seconds, rounds, concurrency, envoyConcurrency: 1, extProcProcesses: extProcs.length, extProcMaxRequestsPerConnection: Number(values['max-requests-per-connection']), runtime: RUNTIME_DEFAULTS }, results, ratios, targets, floorAllows, nonOkOutcomes: statuses, envoyExtProcStats: extProcStats, sideStreams, loadAverage: loadavg() };
    process.stdout.write(`wrote ${writeBenchResult('ext-proc-envelope', out, values.out)}\n`);
    return 0;
  } finally {
    await envoy?.stop();
    for (const p of procs) await p.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2)).then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); });
