// Benchmark: how fast a communication-group certificate change reaches Envoy.
//
//   rotation     provider.rotate() -> new leaf served by Envoy (admin /certs),
//                split into the CM fetch (attested GetTlsAsset, fresh P-256 key)
//                and the SDS delivery (secrets.set -> Envoy serving it).
//   rule change  alice re-adds carol's "interact" rule -> carol's side fetches
//                -> Envoy serving the new leaf.
//   baseline     Trustflow's way, measured in the same run: new cert files and
//                a fresh Envoy with them inline (start until LIVE and serving).
// Ratio = baseline p50 / rotation p50. Writes bench/results/groups-rotation.json.
//
//   node --import=tsx bench/groups-rotation.ts [--rotations 30] [--rule-changes 8] [--baseline 5]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EnvoyProcess } from '../dev/envoy-process.ts';
import { freePorts } from '../dev/free-port.ts';
import { PROJECT_ROOT } from '../dev/toolchain.ts';
import { DATA_UUID, envoyCertSerials, startInteractDemo, until, type AppSide } from '../examples/interact/interact-demo.ts';
import { issueGroupTlsAsset } from '../tls-groups/index.ts';
import { mtlsIngressBootstrap } from '../test/helpers/tls-groups.ts';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { writeBenchResult } from './lib/results.ts';

const { values } = parseArgs({ options: { rotations: { type: 'string', default: '30' }, 'rule-changes': { type: 'string', default: '8' }, baseline: { type: 'string', default: '5' } } });
const N_ROT = Math.min(500, Math.max(3, Number(values.rotations)));
const N_RULE = Math.min(100, Math.max(2, Number(values['rule-changes'])));
const N_BASE = Math.min(20, Math.max(2, Number(values.baseline)));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100;
}
const summary = (xs: number[]) => ({ n: xs.length, p50Ms: pct(xs, 50), p99Ms: pct(xs, 99), maxMs: pct(xs, 100) });

async function servedWithin(side: AppSide, serial: string): Promise<void> {
  await until('Envoy serving the new leaf', async () => (await envoyCertSerials(side.envoy)).includes(serial), 20_000, 2);
}

const demo = await startInteractDemo({ names: ['bob', 'carol'], grantees: ['bob', 'carol'] });
const total: number[] = [];
const fetch: number[] = [];
const deliver: number[] = [];
const rule: number[] = [];
const base: number[] = [];
try {
  const [bi, be, ci, ce] = (await freePorts(4)) as [number, number, number, number];
  await demo.startSide('bob', 'carol', { ingressPort: bi, egressPort: be, peerIngressPort: ci });
  const carol = await demo.startSide('carol', 'bob', { ingressPort: ci, egressPort: ce, peerIngressPort: bi });
  await servedWithin(carol, carol.rotations.at(-1)!.serial);

  for (let i = 0; i < N_ROT + 3; i++) {
    const t0 = performance.now();
    const ev = await carol.provider.rotate('interact');
    const tSet = performance.now();
    await servedWithin(carol, ev.serial);
    const t1 = performance.now();
    if (i < 3) continue; // warm-up
    total.push(t1 - t0);
    fetch.push(tSet - t0);
    deliver.push(t1 - tSet);
  }

  const carolParty = demo.parties.carol!.partyId;
  for (let i = 0; i < N_RULE; i++) {
    await demo.revoke('carol');
    await carol.provider.rotate('interact').catch(() => undefined); // denied: renewal stops
    const t0 = performance.now();
    await demo.alice.client!.addDataRule(DATA_UUID, { rule_id: 'interact-carol', grantee_party_ids: [carolParty], op_constraints: [{ op_name: 'interact', constraints: [] }], columns: ['*'], global_constraints: [] });
    const ev = await carol.provider.rotate('interact');
    await servedWithin(carol, ev.serial);
    rule.push(performance.now() - t0);
  }

  // Baseline: a new certificate delivered the static way (fresh Envoy with inline PEMs).
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  for (let i = 0; i < N_BASE; i++) {
    const t0 = performance.now();
    const a = await issueGroupTlsAsset({ dataKey: Buffer.alloc(32, 1), scope: 'default', dataUuid: 'baseline', partyId: 'carol', subjectPublicKeyPem: key.publicKey.export({ type: 'spki', format: 'pem' }) as string, claims: { platform: 'sim', measurements: {}, reportData: '', tcb: { status: 'NotApplicable' }, debug: false, insecure: true, checks: [] }, evidenceDigest: Buffer.alloc(32) });
    const [port] = await freePorts(1);
    const envoy = await EnvoyProcess.start({ name: 'baseline', bootstrap: mtlsIngressBootstrap({ listenPort: port!, upstreamPort: carol.appPort, certPem: a.leafCertPem, keyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, caPem: a.caCertPem, sanPrefix: 'aenv://group/' }) });
    const serial = new X509Certificate(a.leafCertPem).serialNumber.toLowerCase();
    await until('baseline Envoy serving', async () => (await envoyCertSerials(envoy)).includes(serial), 20_000, 2);
    base.push(performance.now() - t0);
    await envoy.stop();
  }
} finally {
  await demo.close();
}

const rot = summary(total);
const baseline = summary(base);
const result = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version, envoy: EnvoyProcess.version() },
  settings: { rotations: N_ROT, ruleChanges: N_RULE, baselineRuns: N_BASE, xds: 'delta ADS, SDS secrets from the control plane', attestation: 'sim', envoyConcurrency: 1 },
  results: {
    rotation: { ...rot, fetch: summary(fetch), sdsDelivery: summary(deliver) },
    ruleChange: summary(rule),
    baselineStaticRestart: baseline,
  },
  baselineRatio: Math.round((baseline.p50Ms / rot.p50Ms) * 100) / 100,
  notes: 'rotation = attested GetTlsAsset (CM round trip) + SDS push until Envoy /certs shows the new serial; the baseline issues locally (no CM round trip) and still loses; it also drops every open connection, which SDS rotation does not. baselineRatio = static restart p50 / SDS rotation p50 (higher is better)',
};
const out = writeBenchResult('groups-rotation', result);
process.stdout.write(`${JSON.stringify(result.results, null, 2)}\nbaselineRatio ${result.baselineRatio}\nwrote ${out}\n`);
