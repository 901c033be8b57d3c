// Load generator of bench/cm-getdatakeys.ts, in its own process so that its
// crypto (per request: the app's RS256 signature, the sealing, the sim
// evidence, opening the response: two RSA-2048 private operations; in a
// release session two AES-GCM operations) is not counted in the capsule
// manager's CPU and does not share its event loop.
// Reads one JSON job from argv[2]; prints one JSON result line on stdout.
//
//   job: { phase, address, seconds, concurrency, kind: 'plain' | 'getDataKeys',
//          envelope?, session?, app?: { keyPem, certPem }, simKeyDir?, measurement?, trustedSimKeys? }
import { createPrivateKey } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { CapsuleManagerClient } from '../capsule-manager/index.ts';
import { createAttester } from '../platforms/index.ts';
import { CapsuleManagerClient as GrpcClient, GetRaCertRequest } from '../proto/gen/secretflowapis/v2/sdc/capsule_manager/capsule_manager.ts';

export interface LoadJob {
  phase: string;
  address: string;
  seconds: number;
  concurrency: number;
  kind: 'plain' | 'getDataKeys';
  envelope?: 'rsa-oaep-256' | 'ecdh-es';
  /** Releases through one attested release session (opened, with sim evidence, before the measured window). */
  session?: boolean;
  app?: { keyPem: string; certPem: string; partyId: string };
  simKeyDir?: string;
  measurement?: string;
  trustedSimKeys?: string[];
}

export interface LoadResult {
  phase: string;
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The load generator's own CPU per request (this process). */
  loadGenCpuUsPerReq: number;
}

async function drive(job: LoadJob, fn: () => Promise<unknown>): Promise<LoadResult> {
  for (let i = 0; i < 20; i++) await fn(); // warm-up (connect, caches)
  process.stdout.write(`${JSON.stringify({ warm: true })}\n`);
  // The parent reads the CM's CPU when it sees `warm`, then again after `result`.
  await new Promise((r) => setTimeout(r, 50));
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await fn();
          lat.push(performance.now() - s);
        } catch (e) {
          errors++;
          firstError ??= String((e as Error).message ?? e);
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  const q = (p: number) => Math.round((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0) * 100) / 100;
  return {
    phase: job.phase,
    requests: lat.length,
    errors,
    ...(firstError ? { firstError } : {}),
    seconds: Math.round(seconds * 100) / 100,
    reqPerSec: Math.round(lat.length / seconds),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    loadGenCpuUsPerReq: Math.round((cpu.user + cpu.system) / Math.max(1, lat.length)),
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as LoadJob;
  if (job.kind === 'plain') {
    const raw = new GrpcClient(job.address, grpc.credentials.createInsecure());
    const call = () => new Promise((res, rej) => raw.getRaCert(GetRaCertRequest.fromPartial({ nonce: 'n' }), (e, r) => (e ? rej(e) : res(r))));
    process.stdout.write(`${JSON.stringify({ result: await drive(job, call) })}\n`);
    raw.close();
    return;
  }
  const app = job.app!;
  const attester = await createAttester('sim', { simKeyDir: job.simKeyDir!, simMeasurements: { mr_ta: job.measurement! } });
  const client = new CapsuleManagerClient({
    address: job.address,
    signer: { privateKey: createPrivateKey(app.keyPem), certChainPem: [app.certPem] },
    verify: { trustedSimKeys: job.trustedSimKeys ?? [], policy: { allowInsecure: true } },
    envelope: job.envelope ?? 'rsa-oaep-256',
  });
  await client.connect();
  const rr = { initiator_party_id: app.partyId, scope: '', op_name: 'PSI', resources: [{ resource_uri: 'bench-data', columns: ['id'], attrs: '' }], env: '', global_attrs: '' };
  let release = () => client.getDataKeys(rr, attester);
  if (job.session) {
    const session = await client.openReleaseSession(attester);
    release = () => session.getDataKeys(rr);
  }
  const result = await drive(job, release);
  process.stdout.write(`${JSON.stringify({ result })}\n`);
  client.close();
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`cm-load: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
