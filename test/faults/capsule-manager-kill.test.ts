// Fault: the capsule manager killed with SIGKILL during CreateDataKeys and
// GetDataKeys load, once with the file store and once with the NATS JetStream
// KV store (real nats-server).
//
// The CM runs as its own OS process (`node bin/aenv.js capsule-manager serve
// -c cm.yaml`), clients are the real CapsuleManagerClient over gRPC (sealed,
// signed envelopes; GetDataKeys attested with the sim platform). Load: 8
// writers (CreateDataKeys of a fresh key each) and 8 readers (attested
// GetDataKeys), back to back, at most 1200 calls, at most 40 s; the kill comes
// once >= 100 writes and >= 100 reads were acknowledged, with calls of both
// kinds in flight; no call starts after it.
// The file store compacts every 40 records, so the kill also lands between
// compactions.
//
// What must hold:
// - every write the client saw succeed is there after the restart, with the
//   exact key bytes (released by GetDataKeys to the attested app);
// - a write that was not acknowledged is either there whole (the same bytes) or
//   absent, and an absent one can be written again (nothing half-written blocks it);
// - the audit log is an intact hash chain right after the kill (no torn or
//   edited line) and holds a record of every acknowledged write and read;
//   after the restart the CM continues that chain: the records from before the
//   kill are unchanged and new ones verify after them;
// - NATS: the audit stream holds only records that the file holds at the same
//   sequence number (it is a best-effort copy, see audit-stream.ts: the file is
//   the record of truth), from before and after the restart.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { connect } from 'nats';
import { freePort } from '../../dev/free-port.ts';
import { createAttester } from '../../platforms/index.ts';
import { CapsuleManagerClient } from '../../capsule-manager/transport/client.ts';
import { generatePartyKeys, type PartyKeys } from '../../capsule-manager/core/party-keys.ts';
import { verifyAuditLog, type AuditRecord } from '../../capsule-manager/storage/audit-log.ts';
import { recordsOf } from '../../capsule-manager/storage/audit-stream.ts';
import { startAenvProcess } from '../helpers/aenv-process.ts';
import { startNats } from '../helpers/nats.ts';
import { startLoad, waitUntil } from '../helpers/load.ts';

const APP_MR = 'f4'.repeat(32);
const READ_KEYS = 8;
const [alice, appParty] = await Promise.all([generatePartyKeys('alice'), generatePartyKeys('app')]);

function auditLines(path: string): AuditRecord[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
}

async function scenario(t: Test, kind: 'file' | 'nats'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `fault-cm-${kind}-`));
  const appAttester = await createAttester('sim', { simKeyDir: join(dir, 'app-sim'), simMeasurements: { mr_ta: APP_MR } });
  const nats = kind === 'nats' ? await startNats(t) : undefined;
  const auditPath = join(dir, 'audit.log');
  const grpcPort = await freePort();
  const cfgFile = join(dir, 'cm.yaml');
  writeFileSync(cfgFile, stringify({
    grpc: { host: '127.0.0.1', port: grpcPort },
    http: { enabled: false },
    identityDir: join(dir, 'identity'),
    storage: nats ? { kind: 'nats', nats: { servers: nats.url, bucket: 'fault_cm' } } : { kind: 'file', dir: join(dir, 'store'), compactEvery: 40 },
    kek: { passphrase: 'fault test passphrase', scryptCost: 1024 },
    attestation: { self: 'sim', require: true, allowInsecure: true, trustedSimKeys: [appAttester.simPublicKeyPem!] },
    audit: { path: auditPath, ...(nats ? { replica: 'cm1' } : {}) },
    logLevel: 'warn',
  }));
  const cm = await startAenvProcess(t, { name: `capsule-manager(${kind})`, args: ['capsule-manager', 'serve', '-c', cfgFile], ready: /^\{"grpcPort"/ });
  const simKey = () => (JSON.parse(cm.readyLine) as { simPublicKeyPem: string }).simPublicKeyPem;
  const clients: CapsuleManagerClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  const client = (p: PartyKeys) => {
    const c = new CapsuleManagerClient({ address: `127.0.0.1:${grpcPort}`, signer: { privateKey: p.privateKey, certChainPem: [p.certPem] }, verify: { trustedSimKeys: [simKey()], policy: { allowInsecure: true } }, timeoutMs: 5000 });
    clients.push(c);
    return c;
  };
  const ask = (uris: string[]) => ({ initiator_party_id: alice.partyId, scope: '', op_name: 'PSI', resources: uris.map((u) => ({ resource_uri: u, columns: ['id'], attrs: '' })), env: '', global_attrs: '' });

  // Setup: alice registers, uploads the keys the readers ask for, and grants the attested app.
  let owner = client(alice);
  let app = client(appParty);
  await owner.registerCert();
  const readKeys = Array.from({ length: READ_KEYS }, (_, j) => ({ resource_uri: `load/r${j}`, data_key_b64: randomBytes(32).toString('base64') }));
  await owner.createDataKeys(readKeys);
  await owner.createDataPolicy({
    data_uuid: 'load',
    rules: [{ rule_id: 'app-psi', grantee_party_ids: [alice.partyId], columns: ['*'], op_constraints: [{ op_name: 'PSI', constraints: [`r.env.tee.sim.mr_ta == "${APP_MR}"`] }], global_constraints: [] }],
  });
  t.same(await app.getDataKeys(ask(['load/r0']), appAttester), [readKeys[0]], 'the attested app gets a key before the load');

  // Load: writers and readers at once; each call records whether the client saw success.
  const writes = new Map<string, { key: string; acked: boolean }>();
  const writers = startLoad({
    concurrency: 8,
    maxRequests: 600,
    maxMs: 40_000,
    fn: async (i) => {
      const uri = `load/w${i}`;
      const key = randomBytes(32).toString('base64');
      const w = { key, acked: false };
      writes.set(uri, w);
      await owner.createDataKeys([{ resource_uri: uri, data_key_b64: key }]);
      w.acked = true;
    },
  });
  const reads: Array<{ uri: string; acked: boolean }> = [];
  const readers = startLoad({
    concurrency: 8,
    maxRequests: 600,
    maxMs: 40_000,
    fn: async (i) => {
      const r = { uri: `load/r${i % READ_KEYS}`, acked: false };
      reads.push(r);
      const got = await app.getDataKeys(ask([r.uri]), appAttester);
      if (got.length !== 1 || got[0]!.data_key_b64 !== readKeys[i % READ_KEYS]!.data_key_b64) throw new Error(`wrong key released for ${r.uri}`);
      r.acked = true;
    },
  });
  t.teardown(() => Promise.all([writers.stop(), readers.stop()]));
  const ackedW = () => [...writes.values()].filter((w) => w.acked).length;
  const ackedR = () => reads.filter((r) => r.acked).length;
  await waitUntil('>= 100 acknowledged writes and reads, with calls in flight', () => ackedW() >= 100 && ackedR() >= 100 && writers.inFlight >= 2 && readers.inFlight >= 2, 30_000, 1);
  const inFlight = { writes: writers.inFlight, reads: readers.inFlight };
  const killAt = Date.now();
  const killed = cm.kill(); // SIGKILL is sent synchronously here
  const settled = Promise.all([writers.stop(), readers.stop()]); // and no call starts after it
  await killed;
  await settled;
  const preErrors = [...writers.outcomes, ...readers.outcomes].filter((o) => o.error && o.end < killAt).map((o) => (o.error as Error).message);
  t.same(preErrors, [], 'no call failed before the kill');
  const ackedWrites = [...writes].filter(([, w]) => w.acked);
  const unacked = [...writes].filter(([, w]) => !w.acked);
  const ackedReads = reads.filter((r) => r.acked);
  t.comment(`killed with ${inFlight.writes} writes and ${inFlight.reads} reads in flight; acknowledged: ${ackedWrites.length} writes, ${ackedReads.length} reads; not acknowledged: ${unacked.length} writes, ${reads.length - ackedReads.length} reads`);
  // Writes (store + audit fsync) are reliably in flight at the kill; reads are fast
  // enough (the NATS read mirror) that all 8 answers may already be on the wire.
  t.ok(unacked.length > 0, 'writes were cut off by the kill (it landed mid-load)');
  if (reads.length === ackedReads.length) t.comment('every read in flight was answered before the kill took effect');

  // The audit log right after the kill: an intact chain with every acknowledged operation.
  const v = verifyAuditLog(auditPath);
  t.ok(v.ok, `audit chain intact after the kill (${v.ok ? `${v.count} records` : v.error})`);
  const before = auditLines(auditPath);
  const created = new Set(before.filter((r) => r.action === 'CreateDataKeys' && r.decision === 'ok').map((r) => r.target));
  t.same(ackedWrites.map(([u]) => u).filter((u) => !created.has(u)), [], 'every acknowledged write has its audit record');
  const released = new Map<string, number>();
  for (const r of before) if (r.action === 'GetDataKeys' && r.decision === 'allow') released.set(r.target, (released.get(r.target) ?? 0) + 1);
  const short: string[] = [];
  for (let j = 0; j < READ_KEYS; j++) {
    const uri = `load/r${j}`;
    const want = ackedReads.filter((r) => r.uri === uri).length + (j === 0 ? 1 : 0);
    if ((released.get(uri) ?? 0) < want) short.push(`${uri}: ${released.get(uri) ?? 0} records for ${want} acknowledged releases`);
  }
  t.same(short, [], 'every acknowledged key release has its audit record');

  // Restart with the same config: the store opens, the chain continues.
  await cm.restart();
  const restartedAt = Date.now();
  owner = client(alice);
  app = client(appParty);
  // The first calls may meet gRPC's reconnect backoff (the channel saw the CM refuse connections).
  await waitUntil('the restarted CM to answer', () => app.connect().then(() => true, () => false), 20_000, 100);
  t.comment(`the restarted CM answered ${Date.now() - restartedAt} ms after it was ready`);
  const missing: string[] = [];
  for (let k = 0; k < ackedWrites.length; k += 32) {
    const batch = ackedWrites.slice(k, k + 32);
    const got = new Map((await app.getDataKeys(ask(batch.map(([u]) => u)), appAttester)).map((d) => [d.resource_uri, d.data_key_b64]));
    for (const [u, w] of batch) if (got.get(u) !== w.key) missing.push(u);
  }
  t.same(missing, [], `all ${ackedWrites.length} acknowledged writes are there after the restart, with their exact keys`);

  let whole = 0;
  let absent = 0;
  const wrong: string[] = [];
  for (const [u, w] of unacked) {
    const got = await app.getDataKeys(ask([u]), appAttester).then((d) => d, (e: { code?: string; message: string }) => e);
    if (Array.isArray(got)) {
      if (got[0]?.data_key_b64 === w.key) whole++;
      else wrong.push(`${u}: a different key`);
      continue;
    }
    if (got.code !== 'POLICY_DENIED' || !/no data key is registered/.test(got.message)) {
      wrong.push(`${u}: ${got.code} ${got.message}`);
      continue;
    }
    absent++;
    const again = randomBytes(32).toString('base64');
    await owner.createDataKeys([{ resource_uri: u, data_key_b64: again }]).catch((e: Error) => wrong.push(`${u}: rewrite failed: ${e.message}`));
    const back = await app.getDataKeys(ask([u]), appAttester).catch(() => []);
    if (back[0]?.data_key_b64 !== again) wrong.push(`${u}: the rewritten key is not released`);
  }
  t.same(wrong, [], `each unacknowledged write is whole or absent (${whole} whole, ${absent} absent and written again)`);

  const v2 = verifyAuditLog(auditPath);
  t.ok(v2.ok && v2.count > before.length, `after the restart the chain verifies and grew (${v2.ok ? v2.count : v2.error} records)`);
  t.same(auditLines(auditPath).slice(0, before.length), before, 'the records from before the kill are unchanged');

  if (nats) {
    await cm.stop(); // flushes the stream publications of the second run
    const nc = await connect({ servers: nats.url });
    t.teardown(() => nc.close());
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info('aenv_cm_audit');
    const file = new Map(auditLines(auditPath).map((r) => [r.seq, r.hash]));
    const diverging: string[] = [];
    let fromBefore = 0;
    let fromAfter = 0;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const rs = recordsOf((await jsm.streams.getMessage('aenv_cm_audit', { seq })).json<unknown>());
      if (!rs) diverging.push(`stream seq ${seq}: not an audit message`);
      for (const r of rs ?? []) {
        if (r.replica !== 'cm1' || file.get(r.record.seq) !== r.record.hash) diverging.push(`stream seq ${seq}: record ${r.record.seq} of ${r.replica}`);
        if (r.record.seq <= before.length) fromBefore++;
        else fromAfter++;
      }
    }
    t.same(diverging, [], `the audit stream holds only records the file holds (${fromBefore} from before the kill, ${fromAfter} after)`);
    t.ok(fromBefore > 0 && fromAfter > 0, 'records from both runs reached the stream');
    t.comment(`stream lacks ${before.length - fromBefore} of the ${before.length} records durable before the kill (publishing is best effort)`);
  }
}

t.test('capsule manager kill -9 under load, file store', (t) => scenario(t, 'file'));
t.test('capsule manager kill -9 under load, NATS JetStream store', (t) => scenario(t, 'nats'));
