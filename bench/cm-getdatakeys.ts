// Benchmark: attested GetDataKeys (real sim evidence per request, JWE-over-JWS
// envelope, policy with a constraint expression, keys unwrapped from the KEK,
// response sealed to the app cert, audit line fsync'd) in requests/s on the
// file store and on NATS JetStream KV, against a baseline measured in the same
// run: a plain unauthenticated unary call (GetRaCert on a CM without attester)
// through the same gRPC stack. Client and server share this process (2 cores),
// Each CM runs in its own process (`aenv capsule-manager serve`), the load
// generator in this one. Writes bench/results/cm-getdatakeys.json.
//
//   node --import=tsx bench/cm-getdatakeys.ts [--seconds 5] [--concurrency 8]
import { createPublicKey, randomBytes } from 'node:crypto';
import { openRequest, openResponse, sealRequest, sealResponse } from '../capsule-manager/index.ts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { PROJECT_ROOT } from '../dev/toolchain.ts';
import { NatsProcess } from '../dev/nats-process.ts';
import { createAttester } from '../platforms/index.ts';
import { CapsuleManagerClient as GrpcClient, GetRaCertRequest } from '../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';
import { CapsuleManagerClient } from '../capsule-manager/index.ts';
import { generatePartyKeys } from '../capsule-manager/index.ts';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { writeBenchResult } from './lib/results.ts';
import { cpuMs } from './lib/proc-cpu.ts';

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

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' } } });
const SECONDS = Math.min(60, Math.max(1, Number(values.seconds)));
const CONC = Math.min(64, Math.max(1, Number(values.concurrency)));
const MR = 'a1'.repeat(32);

interface Phase {
  phase: string;
  requests: number;
  errors: number;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The serving CM process's own CPU time per request (utime + stime from /proc), and releases per CM CPU-second. */
  cmCpuUsPerReq?: number;
  perCmCpuSecond?: number;
}


async function drive(phase: string, fn: () => Promise<unknown>, serverPid?: number): Promise<Phase> {
  for (let i = 0; i < 20; i++) await fn(); // warm-up
  const cpu0 = cpuMs(serverPid);
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await fn();
          lat.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => Math.round((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0) * 100) / 100;
  const cpu = cpuMs(serverPid) - cpu0;
  const r: Phase = { phase, requests: lat.length, errors, seconds: Math.round(seconds * 100) / 100, reqPerSec: Math.round(lat.length / seconds), p50Ms: q(0.5), p99Ms: q(0.99) };
  if (serverPid && Number.isFinite(cpu) && lat.length > 0) {
    r.cmCpuUsPerReq = Math.round((cpu * 1000) / lat.length);
    r.perCmCpuSecond = Math.round(lat.length / (cpu / 1000));
  }
  process.stderr.write(`${JSON.stringify(r)}\n`);
  return r;
}

const work = mkdtempSync(join(tmpdir(), 'bench-cm-'));
const closers: Array<() => Promise<void> | void> = [];
try {
  const nats = await NatsProcess.start();
  closers.push(() => nats.stop());
  const appAttester = await createAttester('sim', { simMeasurements: { mr_ta: MR } });
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

  // Baseline: a plain unauthenticated unary call, same server stack.
  const plain = await spawnCm(base({ kind: 'file', dir: join(work, 'plain', 'store') }, 'none', 'plain'), join(work, 'plain'));
  closers.push(() => plain.stop());
  const raw = new GrpcClient(`127.0.0.1:${plain.grpcPort}`, grpc.credentials.createInsecure());
  closers.push(() => raw.close());
  const rawCall = () => new Promise((res, rej) => raw.getRaCert(GetRaCertRequest.fromPartial({ nonce: 'n' }), (e, r) => (e ? rej(e) : res(r))));
  const results: Phase[] = [];
  results.push(await drive('baseline: plain unary gRPC call (GetRaCert, no attester)', rawCall, plain.pid));
  // The crypto floor of the protocol, no transport: client seal (RS256 sign + RSA-OAEP-256 wrap),
  // server open, server seal, client open -- three RSA-2048 private operations per request.
  const cmRef = await generatePartyKeys('cm-reference');
  const cmKey = createPublicKey(cmRef.privateKey);
  const appPub = createPublicKey(app.privateKey);
  const envelopeOnly = async () => {
    const sealed = await sealRequest({ resource_request: { op_name: 'PSI' } }, cmKey, { privateKey: app.privateKey, certChainPem: [app.certPem] });
    await openRequest(sealed.message, true, cmRef.privateKey);
    await openResponse(await sealResponse({ data_keys: [] }, appPub), app.privateKey);
  };
  const envelope = await drive('reference: envelope crypto only, in-process (no gRPC, no attestation, no store)', envelopeOnly);

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
    const a = new CapsuleManagerClient({ address: `127.0.0.1:${cm.grpcPort}`, signer: { privateKey: app.privateKey, certChainPem: [app.certPem] }, verify });
    await a.connect();
    closers.push(() => a.close());
    const rr = { initiator_party_id: app.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: 'bench-data', columns: ['id'], attrs: '' }], env: '', global_attrs: '' };
    return () => a.getDataKeys(rr, appAttester);
  };

  const fileCm = await spawnCm(base({ kind: 'file', dir: join(work, 'file', 'store') }, 'sim', 'file'), join(work, 'file'));
  closers.push(() => fileCm.stop());
  results.push(await drive('GetDataKeys, sim attestation, file store', await setup(fileCm), fileCm.pid));
  const natsCm = await spawnCm(base({ kind: 'nats', nats: { servers: nats.url, bucket: 'bench_cm' } }, 'sim', 'nats'), join(work, 'nats'));
  closers.push(() => natsCm.stop());
  results.push(await drive('GetDataKeys, sim attestation, NATS JetStream KV', await setup(natsCm), natsCm.pid));

  const baseRps = results[0]!.reqPerSec || 1;
  const envRps = envelope.reqPerSec || 1;
  const out = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadAverage1m: Math.round(loadavg()[0]! * 10) / 10 },
    settings: { seconds: SECONDS, concurrency: CONC, auditLog: 'file, group commit (one fsync per batch)', rsa: 2048, topology: 'each CM in its own process; load generator (client crypto incl. 2 RSA private ops per request) in the bench process' },
    results,
    reference: envelope,
    /** Issue 18 target: >= 2,000 releases per CM CPU-second (sim attestation), from the CM process's own CPU time. */
    releasesPerCmCpuSecond: Object.fromEntries(results.slice(1).map((r) => [r.phase, r.perCmCpuSecond])),
    ratios: Object.fromEntries(results.slice(1).map((r) => [r.phase, Math.round((r.reqPerSec / baseRps) * 1000) / 1000])),
    ratiosToEnvelopeCrypto: Object.fromEntries(results.slice(1).map((r) => [r.phase, Math.round((r.reqPerSec / envRps) * 1000) / 1000])),
    note: 'ratios = GetDataKeys req/s over the plain-call baseline, and over the in-process envelope crypto (3 RSA-2048 private ops), both measured in the same run on a shared 2-core machine',
  };
  process.stdout.write(`wrote ${writeBenchResult('cm-getdatakeys', out)}\n`);
  process.stdout.write(`${JSON.stringify(out.ratios)}\n`);
} finally {
  for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
