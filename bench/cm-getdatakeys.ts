// Benchmark: attested GetDataKeys (real sim evidence per request, JWE-over-JWS
// envelope, policy with a constraint expression, keys unwrapped from the KEK,
// response sealed to the app cert, nonce recorded, audit line fsync'd) on the
// file store and on NATS JetStream KV, with both request envelopes
// (RSA-OAEP-256, Trustflow's; ECDH-ES to the X25519 key the CM's attested
// certificate names). Each CM runs in its own process (`aenv capsule-manager
// serve`), and so does the load generator (bench/cm-load.ts), so the CM's CPU
// per release is its own: utime + stime from /proc over the measured window.
// Beside it, in the same run: a plain unauthenticated unary call through the
// same gRPC stack (GetRaCert on a CM without attester), and the bound set by
// the CM's own crypto per release (one RSA-2048 private op or one X25519
// agreement, the sim evidence's P-256 ECDSA verify, the request's RS256
// verify, the response's RSA-OAEP encrypt), timed in this process. And the
// same releases inside an attested release session (aenv.capsule_manager.v1.
// ReleaseSessions: the sim evidence verified once when the session opens,
// each release then AES-GCM under the session key, still policy-checked and
// audited), whose bound is the transport: the plain call.
// Target (issue 18): >= 2,000 releases per CM CPU-second with sim attestation.
// Writes bench/results/cm-getdatakeys.json.
//
//   node --import=tsx bench/cm-getdatakeys.ts [--seconds 4] [--concurrency 8] [--rounds 3] [--only <phase text>]
import { constants, createPublicKey, diffieHellman, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, sign, verify } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { PROJECT_ROOT } from '../dev/toolchain.ts';
import { NatsProcess } from '../dev/nats-process.ts';
import { createAttester } from '../platforms/index.ts';
import { CapsuleManagerClient, generatePartyKeys } from '../capsule-manager/index.ts';
import { isQuick, writeBenchResult } from './lib/results.ts';
import { cpuMs } from './lib/proc-cpu.ts';
import type { LoadJob, LoadResult } from './cm-load.ts';

interface ChildCm {
  grpcPort: number;
  pid: number | undefined;
  simPublicKeyPem?: string;
  stop(): Promise<void>;
}

/** Starts `aenv capsule-manager serve -c <yaml>` in a child process and reads its ports. */
async function spawnCm(config: Record<string, unknown>, dir: string): Promise<ChildCm> {
  mkdirSync(dir, { recursive: true });
  const cfgPath = join(dir, 'cm.yaml');
  writeFileSync(cfgPath, stringify(config), { mode: 0o600 });
  // CM_NODE_ARGS: extra node flags for the CM processes (e.g. --cpu-prof --cpu-prof-dir=DIR).
  const child = spawn(process.execPath, [...(process.env.CM_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import=tsx', '-e', `import('./capsule-manager/cli.ts').then(async (m) => process.exit(await m.main(['serve', '-c', ${JSON.stringify(cfgPath)}])))`], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`capsule manager exited with ${c}`)));
  });
  const info = JSON.parse(line) as { grpcPort: number; simPublicKeyPem?: string };
  return {
    ...info,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface Phase extends LoadResult {
  /** The serving CM process's own CPU time per request (utime + stime from /proc), and releases per CM CPU-second. */
  cmCpuUsPerReq?: number;
  perCmCpuSecond?: number;
}

/** Runs one load job in its own process (bench/cm-load.ts) and reads the CM's CPU over its measured window. */
async function drive(job: LoadJob, serverPid: number | undefined): Promise<Phase> {
  const child = spawn(process.execPath, ['--import=tsx', join(PROJECT_ROOT, 'bench/cm-load.ts'), JSON.stringify(job)], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let cpu0 = NaN;
  let result: LoadResult | undefined;
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    const m = JSON.parse(line) as { warm?: boolean; result?: LoadResult };
    if (m.warm) cpu0 = cpuMs(serverPid);
    if (m.result) result = m.result;
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const cpu = cpuMs(serverPid) - cpu0;
  if (code !== 0 || !result) throw new Error(`load generator for "${job.phase}" exited with ${code}`);
  const r: Phase = { ...result };
  if (serverPid && Number.isFinite(cpu) && r.requests > 0) {
    r.cmCpuUsPerReq = Math.round((cpu * 1000) / r.requests);
    r.perCmCpuSecond = Math.round(r.requests / (cpu / 1000));
  }
  process.stderr.write(`${JSON.stringify(r)}\n`);
  return r;
}

/** CPU microseconds per call of `fn` in this process (median of 3 short runs). */
function usPer(fn: () => unknown, n: number): number {
  const runs: number[] = [];
  for (let k = 0; k < 3; k++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const c = process.cpuUsage(c0);
    runs.push((c.user + c.system) / n);
  }
  return Math.round(runs.sort((x, y) => x - y)[1]! * 10) / 10;
}

/** The CM's own crypto per release, each primitive timed here: the bound no transport or store can beat. */
function cryptoBound(): { rsaReleaseUs: number; ecdhReleaseUs: number; parts: Record<string, number>; rsaBoundPerCpuSecond: number; ecdhBoundPerCpuSecond: number } {
  const n = isQuick() ? 50 : 400;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const x = generateKeyPairSync('x25519');
  const x2 = generateKeyPairSync('x25519');
  const data = randomBytes(600);
  const ecSig = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  const rsSig = sign('sha256', data, rsa.privateKey);
  const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
  const ek = publicEncrypt({ key: rsa.publicKey, ...oaep }, randomBytes(16));
  const parts = {
    rsaOaepDecrypt: usPer(() => privateDecrypt({ key: rsa.privateKey, ...oaep }, ek), n),
    x25519Agreement: usPer(() => diffieHellman({ privateKey: x.privateKey, publicKey: x2.publicKey }), n * 4),
    simEvidenceEcdsaP256Verify: usPer(() => verify('sha256', data, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, ecSig), n * 4),
    requestRs256Verify: usPer(() => verify('sha256', data, rsa.publicKey, rsSig), n * 4),
    responseRsaOaepEncrypt: usPer(() => publicEncrypt({ key: rsa.publicKey, ...oaep }, randomBytes(16)), n * 4),
  };
  const common = parts.simEvidenceEcdsaP256Verify + parts.requestRs256Verify + parts.responseRsaOaepEncrypt;
  const rsaReleaseUs = Math.round(parts.rsaOaepDecrypt + common);
  const ecdhReleaseUs = Math.round(parts.x25519Agreement + common);
  return { rsaReleaseUs, ecdhReleaseUs, parts, rsaBoundPerCpuSecond: Math.round(1e6 / rsaReleaseUs), ecdhBoundPerCpuSecond: Math.round(1e6 / ecdhReleaseUs) };
}

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, concurrency: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' }, only: { type: 'string' } } });
const SECONDS = Math.min(60, Math.max(1, Number(values.seconds)));
// Rounds: every phase once per round, rounds one after another (interleaved, so
// a noisy minute of the shared machine hits all phases alike); each phase's
// figure is its median round by CM CPU per request.
const ROUNDS = isQuick() ? 1 : Math.min(9, Math.max(1, Number(values.rounds)));
const CONC = Math.min(64, Math.max(1, Number(values.concurrency)));
const MR = 'a1'.repeat(32);

const SESSION_FILE = 'GetDataKeys in an attested release session (sim evidence verified once per session), file store';
const SESSION_NATS = 'GetDataKeys in an attested release session (sim evidence verified once per session), NATS JetStream KV';
const isSession = (phase: string) => phase.includes('release session');

const work = mkdtempSync(join(tmpdir(), 'bench-cm-'));
const closers: Array<() => Promise<void> | void> = [];
try {
  const nats = await NatsProcess.start();
  closers.push(() => nats.stop());
  // The app's sim signing key lives in a directory the load generator loads too.
  const simKeyDir = join(work, 'app-sim');
  const appAttester = await createAttester('sim', { simKeyDir, simMeasurements: { mr_ta: MR } });
  const [owner, app] = await Promise.all([generatePartyKeys('owner'), generatePartyKeys('app')]);
  const base = (storage: Record<string, unknown>, self: 'sim' | 'none', sub: string) => ({
    grpc: { port: 0 },
    http: { enabled: false },
    identityDir: join(work, sub, 'identity'),
    storage,
    kek: { passphrase: 'benchmark passphrase', scryptCost: 16384 },
    attestation: { self, simKeyDir: join(work, sub, 'sim'), require: true, allowInsecure: true, trustedSimKeys: [appAttester.simPublicKeyPem!] },
    audit: { path: join(work, sub, 'audit.log') },
    logLevel: 'silent',
  });
  const job = (phase: string, cm: ChildCm, over: Partial<LoadJob>): LoadJob => ({ phase, address: `127.0.0.1:${cm.grpcPort}`, seconds: SECONDS, concurrency: CONC, kind: 'getDataKeys', ...over });
  const releaseJob = (phase: string, cm: ChildCm, envelope: 'rsa-oaep-256' | 'ecdh-es' | 'session'): LoadJob =>
    job(phase, cm, { ...(envelope === 'session' ? { session: true } : { envelope }), app: { keyPem: app.privateKeyPem, certPem: app.certPem, partyId: app.partyId }, simKeyDir, measurement: MR, trustedSimKeys: [cm.simPublicKeyPem!] });

  // Baseline: a plain unauthenticated unary call, same server stack.
  const plain = await spawnCm(base({ kind: 'file', dir: join(work, 'plain', 'store') }, 'none', 'plain'), join(work, 'plain'));
  closers.push(() => plain.stop());
  const plainJob = job('baseline: plain unary gRPC call (GetRaCert, no attester)', plain, { kind: 'plain' });

  const setup = async (cm: ChildCm) => {
    const verify = { trustedSimKeys: [cm.simPublicKeyPem!], policy: { allowInsecure: true } };
    const o = new CapsuleManagerClient({ address: `127.0.0.1:${cm.grpcPort}`, signer: { privateKey: owner.privateKey, certChainPem: [owner.certPem] }, verify });
    await o.registerCert();
    await o.createDataKeys([{ resource_uri: 'bench-data', data_key_b64: randomBytes(16).toString('base64') }]);
    await o.createDataPolicy({
      data_uuid: 'bench-data',
      rules: [{ rule_id: 'r', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [`r.env.tee.sim.mr_ta == "${MR}"`] }], global_constraints: ['r.env.tee.platform == "sim"'] }],
    });
    o.close();
  };

  const fileCm = await spawnCm(base({ kind: 'file', dir: join(work, 'file', 'store') }, 'sim', 'file'), join(work, 'file'));
  closers.push(() => fileCm.stop());
  await setup(fileCm);
  const natsCm = await spawnCm(base({ kind: 'nats', nats: { servers: nats.url, bucket: 'bench_cm' } }, 'sim', 'nats'), join(work, 'nats'));
  closers.push(() => natsCm.stop());
  await setup(natsCm);
  const PHASES: Array<[string, ChildCm, 'rsa-oaep-256' | 'ecdh-es' | 'session']> = [
    ['GetDataKeys, sim attestation, file store', fileCm, 'rsa-oaep-256'],
    ['GetDataKeys, sim attestation, file store, ECDH-ES envelope', fileCm, 'ecdh-es'],
    [SESSION_FILE, fileCm, 'session'],
    ['GetDataKeys, sim attestation, NATS JetStream KV', natsCm, 'rsa-oaep-256'],
    ['GetDataKeys, sim attestation, NATS JetStream KV, ECDH-ES envelope', natsCm, 'ecdh-es'],
    [SESSION_NATS, natsCm, 'session'],
  ];
  // --only <text>: just the phases whose name contains it (for profiling one; no results file is written).
  const chosen = PHASES.filter(([phase]) => !values.only || phase.includes(values.only));
  const rounds: Phase[][] = [];
  for (let k = 0; k < ROUNDS; k++) {
    const round = [await drive(plainJob, plain.pid)];
    for (const [phase, cm, envelope] of chosen) round.push(await drive(releaseJob(phase, cm, envelope), cm.pid));
    rounds.push(round);
  }
  const results: Phase[] = rounds[0]!.map((_, i) => {
    const byCpu = rounds.map((r) => r[i]!).sort((a, b) => (a.cmCpuUsPerReq ?? 0) - (b.cmCpuUsPerReq ?? 0));
    return byCpu[Math.floor((byCpu.length - 1) / 2)]!;
  });
  const bound = cryptoBound();

  const baseRps = results[0]!.reqPerSec || 1;
  const perCpu = Object.fromEntries(results.slice(1).map((r) => [r.phase, r.perCmCpuSecond]));
  const out = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadAverage1m: Math.round(loadavg()[0]! * 10) / 10 },
    settings: { seconds: SECONDS, concurrency: CONC, rounds: ROUNDS, auditLog: 'file, group commit (one fsync per batch)', store: 'file: write-ahead log with group commit; NATS JetStream KV', rsa: 2048, topology: 'each CM in its own process; the load generator (bench/cm-load.ts: client crypto incl. 2 RSA private ops per request) in its own process' },
    results,
    /** Every round's CM CPU per request (us) by phase; `results` holds each phase's median round. */
    roundsCmCpuUsPerReq: Object.fromEntries(results.map((r, i) => [r.phase, rounds.map((round) => round[i]!.cmCpuUsPerReq)])),
    /** Issue 18 target: >= 2,000 releases per CM CPU-second (sim attestation), from the CM process's own CPU time. */
    releasesPerCmCpuSecond: perCpu,
    targetMet: Object.fromEntries(Object.entries(perCpu).map(([k, v]) => [k, (v ?? 0) >= 2000])),
    /** The CM's own crypto per release (no transport, store, policy or JSON): what one CPU-second allows at best. */
    cryptoBound: bound,
    /** Measured releases per CM CPU-second over the crypto bound of the same envelope. */
    ratioToCryptoBound: Object.fromEntries(results.slice(1).filter((r) => !isSession(r.phase)).map((r) => [r.phase, Math.round(((r.perCmCpuSecond ?? 0) / (r.phase.includes('ECDH') ? bound.ecdhBoundPerCpuSecond : bound.rsaBoundPerCpuSecond)) * 1000) / 1000])),
    /** The plain-call baseline's CM CPU per request: gRPC + HTTP/2 alone. */
    baselineCmCpuUsPerReq: results[0]!.cmCpuUsPerReq,
    ratios: Object.fromEntries(results.slice(1).map((r) => [r.phase, Math.round((r.reqPerSec / baseRps) * 1000) / 1000])),
    note: 'releases per CM CPU-second from the CM process\'s own /proc CPU time over the measured window; ratios = req/s over the plain-call baseline; shared 2-core machine',
  };
  if (values.only) process.stdout.write('--only: partial run, results file not written\n');
  else process.stdout.write(`wrote ${writeBenchResult('cm-getdatakeys', out)}\n`);
  for (const r of results.slice(1)) process.stdout.write(`${r.phase}: ${r.reqPerSec} req/s, CM CPU ${r.cmCpuUsPerReq} us per release = ${r.perCmCpuSecond} per CM CPU-second (target 2,000: ${(r.perCmCpuSecond ?? 0) >= 2000 ? 'MET' : 'NOT MET'})\n`);
  process.stdout.write(`crypto bound per release: RSA ${bound.rsaReleaseUs} us (${bound.rsaBoundPerCpuSecond}/CPU-s), ECDH-ES ${bound.ecdhReleaseUs} us (${bound.ecdhBoundPerCpuSecond}/CPU-s); plain gRPC call ${results[0]!.cmCpuUsPerReq} us of CM CPU\n`);
} finally {
  for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
