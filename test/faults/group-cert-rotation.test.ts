// Fault: the group leaf rotated again and again while bounded load crosses the
// group mTLS path.
//
// examples/interact's stack, all real: capsule manager, bob's and carol's
// control planes (GroupSdsProvider -> SDS), two Envoys, two apps. Traffic goes
// app -> own Envoy egress (plaintext) -> group mTLS -> peer Envoy ingress -> peer
// app, both ways. test/tls-groups/interact-example.test.ts already proves zero
// failed requests through 8 rotations with 3 sequential clients; this is the
// load version: 16 concurrent clients (12 opening a new connection, so a new
// mTLS handshake, per request; 4 on kept-alive connections that live across
// every rotation), 12 rotations, and after each one a check that both Envoys
// serve the newest leaf and that handshakes made with it carried traffic.
// Bounded: at most 3000 requests, at most 60 s.
//
// What must hold: 0 failed requests; after every rotation each ingress presents
// the newest leaf to new connections, and >= 32 requests complete on it before
// the next rotation; Envoy counts no TLS handshake error and no failed upstream
// connection on either side.
import t from 'tap';
import * as tls from 'node:tls';
import { Agent, request } from 'node:http';
import { freePorts } from '../../dev/free-port.ts';
import { startInteractDemo, envoyCertSerials, until, DATA_KEY_B64, DATA_UUID, type AppSide } from '../../examples/interact/interact-demo.ts';
import type { EnvoyProcess } from '../../dev/envoy-process.ts';
import { issueGroupTlsAsset } from '../../tls-groups/index.ts';
import { startLoad, waitUntil } from '../helpers/load.ts';
import { EVIDENCE_DIGEST, SIM_CLAIMS, p256 } from '../tls-groups/fixtures.ts';

const ROUNDS = 6;

/**
 * The serial (lowercase hex) of the certificate the ingress on `port` presents
 * to a new connection. The probe presents a valid member leaf of the group (so
 * the handshake completes and Envoy counts no error for it).
 */
function presentedSerial(port: number, probe: { cert: string; key: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...probe }, () => {
      const serial = s.getPeerX509Certificate()?.serialNumber.toLowerCase() ?? '';
      s.destroy();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

/** Envoy's TLS failure counters: handshake errors on listeners, failed upstream connections and TLS errors on clusters. */
async function tlsFailures(envoy: EnvoyProcess): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, v] of await envoy.stats('(ssl\\.(connection_error|fail_verify|handshake_error)|upstream_cx_connect_fail|ssl\\.no_certificate)')) if (!k.startsWith('cluster.xds_cluster')) out[k] = v;
  return out;
}

t.test('group leaf rotated 12 times under 16 concurrent clients over group mTLS: 0 failed requests', async (t) => {
  const demo = await startInteractDemo({ names: ['bob', 'carol'], grantees: ['bob', 'carol'] });
  t.teardown(() => demo.close());
  const [bi, be, ci, ce] = (await freePorts(4)) as [number, number, number, number];
  const bob = await demo.startSide('bob', 'carol', { ingressPort: bi, egressPort: be, peerIngressPort: ci });
  const carol = await demo.startSide('carol', 'bob', { ingressPort: ci, egressPort: ce, peerIngressPort: bi });
  await until('bob -> carol', async () => bob.hello('warm').catch(() => undefined));
  await until('carol -> bob', async () => carol.hello('warm').catch(() => undefined));
  const probeKey = p256();
  const probeLeaf = await issueGroupTlsAsset({ dataKey: Buffer.from(DATA_KEY_B64, 'base64'), scope: 'default', dataUuid: DATA_UUID, partyId: demo.parties.bob!.partyId, subjectPublicKeyPem: probeKey.publicKeyPem, claims: SIM_CLAIMS, evidenceDigest: EVIDENCE_DIGEST });
  const probe = { cert: probeLeaf.leafCertPem, key: probeKey.privateKeyPem };

  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const keepAlive = (text: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: ce, path: '/hello', method: 'POST', agent }, (res) => {
        const c: Buffer[] = [];
        res.on('data', (d: Buffer) => c.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(c).toString() }));
      });
      req.on('error', reject);
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.end(text);
    });
  const failuresBefore = { bob: await tlsFailures(bob.envoy), carol: await tlsFailures(carol.envoy) };
  const sdsUpdates = async (e: EnvoyProcess) => [...(await e.stats('ssl_context_update_by_sds'))].filter(([k]) => !k.includes('xds_cluster'));
  const updatesBefore = { bob: new Map(await sdsUpdates(bob.envoy)), carol: new Map(await sdsUpdates(carol.envoy)) };

  // Workers 0..11: bob -> carol, a new connection (and mTLS handshake) each; 12..15: carol -> bob kept alive.
  const load = startLoad({
    concurrency: 16,
    maxRequests: 3000,
    maxMs: 60_000,
    fn: async (i, worker) => {
      const text = `m${i}`;
      const r = worker < 12 ? await bob.hello(text) : await keepAlive(text);
      const want = worker < 12 ? `Hello from Carol! (you said: ${text})` : `Hello from Bob! (you said: ${text})`;
      if (r.status !== 200 || r.body !== want) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 100)}`);
    },
  });
  t.teardown(() => load.stop());
  await load.completions(32);

  const stale: string[] = [];
  const thin: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const [b, c] = await Promise.all([bob.provider.rotate('interact'), carol.provider.rotate('interact')]);
    const newest = async (side: AppSide, serial: string) => (await envoyCertSerials(side.envoy)).includes(serial) && (await presentedSerial(side.ingressPort, probe)) === serial;
    await until(`round ${round}: both ingresses present the new leaf`, async () => (await newest(bob, b.serial)) && (await newest(carol, c.serial)), 15_000);
    // Requests that start from here go over handshakes made with the new leaves.
    const from = load.started;
    const onNew = () => load.outcomes.filter((o) => o.i >= from && o.worker < 12 && !o.error).length;
    await waitUntil(`round ${round}: 32 requests over new handshakes`, () => onNew() >= 32, 15_000).catch(() => thin.push(`round ${round}: ${onNew()} requests`));
    for (const [side, serial] of [[bob, b.serial], [carol, c.serial]] as const) {
      const got = await presentedSerial(side.ingressPort, probe);
      if (got !== serial) stale.push(`round ${round}: ${side.party.name} presents ${got}, newest is ${serial}`);
    }
  }
  const outcomes = await load.stop();

  t.equal(bob.rotations.length, 1 + ROUNDS, `bob rotated ${ROUNDS} times`);
  t.equal(carol.rotations.length, 1 + ROUNDS, `carol rotated ${ROUNDS} times`);
  t.equal(new Set([...bob.rotations, ...carol.rotations].map((r) => r.serial)).size, 2 * (1 + ROUNDS), 'every rotation is a new certificate');
  t.same(stale, [], 'after every rotation both ingresses present the newest leaf to new connections');
  t.same(thin, [], 'after every rotation >= 32 new-handshake requests completed before the next one');
  const failed = outcomes.filter((o) => o.error).map((o) => `#${o.i} (worker ${o.worker}): ${(o.error as Error).message}`);
  t.same(failed, [], `0 failed requests out of ${outcomes.length} through ${2 * ROUNDS} rotations`);
  t.ok(outcomes.filter((o) => o.worker >= 12).length >= 100, 'the kept-alive connections carried traffic throughout');
  t.same({ bob: await tlsFailures(bob.envoy), carol: await tlsFailures(carol.envoy) }, failuresBefore, 'Envoy counted no TLS handshake error or failed upstream connection');
  for (const side of [bob, carol]) {
    const after = await sdsUpdates(side.envoy);
    const before = updatesBefore[side.party.name as 'bob' | 'carol'];
    t.ok(after.length >= 2 && after.every(([k, v]) => v - (before.get(k) ?? 0) >= ROUNDS), `${side.party.name}: ingress and egress TLS contexts each took >= ${ROUNDS} SDS updates (${after.map(([k, v]) => `${k.startsWith('listener.') ? 'ingress' : 'egress'}: +${v - (before.get(k) ?? 0)}`).join(', ')})`);
  }
});
