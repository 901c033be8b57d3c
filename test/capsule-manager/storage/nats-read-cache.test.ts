// The NATS store's read mirror against a real nats-server: what one replica
// acknowledged is what the other reads next (the read barrier), one barrier
// serves a burst of reads, nonces are never held, and when the watch is broken
// underneath it (its consumer deleted, the server killed) reads go to the KV or
// fail; they are never answered from a stale mirror.
import t from 'tap';
import fc from 'fast-check';
import { connect } from 'nats';
import type { Test } from 'tap';
import { NatsStore, type NatsStoreOptions } from '../../../capsule-manager/storage/nats-store.ts';
import { UNCACHED_KEY_PREFIXES } from '../../../capsule-manager/core/repository.ts';
import { startNats } from '../../helpers/nats.ts';

const nats = await startNats(t);
let n = 0;

async function pair(t: Test, opts: Partial<NatsStoreOptions> = {}) {
  const bucket = `cm_mirror_${++n}`;
  const states: string[] = [];
  const open = (who: string) =>
    NatsStore.open({ servers: nats.url, bucket, ...opts, readCacheOptions: { uncachedPrefixes: UNCACHED_KEY_PREFIXES, ...opts.readCacheOptions, onState: (s) => states.push(`${who} ${s}`) } });
  const a = await open('A');
  const b = await open('B');
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  return { a, b, bucket, states };
}

t.test('what replica A acknowledged, replica B reads next (fast-check model, get and list)', async (t) => {
  const { a, b } = await pair(t);
  const model = new Map<string, string>();
  const keys = ['datakey.k1', 'datakey.k2', 'policy.p1', 'party.x', 'nonce.1.n1'];
  const cmd = fc.record({ key: fc.constantFrom(...keys), op: fc.constantFrom('put', 'delete'), writer: fc.boolean(), value: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 1, maxLength: 8 }) });
  let steps = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 12 }), async (cmds) => {
      for (const c of cmds) {
        const [w, r] = c.writer ? [a, b] : [b, a];
        const cur = await w.get(c.key);
        if (c.op === 'put') {
          if (cur) await w.update(c.key, Buffer.from(c.value), cur.revision);
          else await w.create(c.key, Buffer.from(c.value));
          model.set(c.key, c.value);
        } else if (cur) {
          await w.delete(c.key, cur.revision);
          model.delete(c.key);
        }
        // the other replica, at once: no waiting, no retry
        const got = await r.get(c.key);
        if (got?.value.toString() !== model.get(c.key)) throw new Error(`${c.key}: read ${got?.value.toString()} after ${c.op} ${model.get(c.key)}`);
        const listed = (await r.list('datakey')).map((e) => `${e.key}=${e.value.toString()}`);
        const want = [...model].filter(([k]) => k.startsWith('datakey.')).sort().map(([k, v]) => `${k}=${v}`);
        if (listed.join() !== want.join()) throw new Error(`list: ${listed.join()} != ${want.join()}`);
        steps++;
      }
    }),
    { numRuns: 25 },
  );
  t.ok(steps > 25, `${steps} write-then-read steps across replicas`);
  const sa = a.cache!.stats();
  t.equal(sa.state, 'current');
  t.ok(sa.hits > 0 && sa.bypassed === 0, `A served ${sa.hits} reads from its mirror, bypassed none`);
  t.notOk(sa.entries > 4, 'the nonce key is not held');
});

t.test('one barrier serves a burst of reads', async (t) => {
  const { a, b } = await pair(t);
  for (let i = 0; i < 20; i++) await a.create(`datakey.b${i}`, Buffer.from(String(i)));
  const before = b.cache!.stats().barriers;
  const got = await Promise.all(Array.from({ length: 400 }, (_, i) => b.get(`datakey.b${i % 20}`)));
  t.same(
    got.map((e) => e?.value.toString()),
    Array.from({ length: 400 }, (_, i) => String(i % 20)),
  );
  const used = b.cache!.stats().barriers - before;
  t.ok(used <= 3, `400 concurrent reads took ${used} STREAM.INFO requests`);
});

t.test('a revocation on A is seen by a read on B that began after it, under concurrent load', async (t) => {
  const { a, b } = await pair(t);
  const rev = await a.create('datakey.hot', Buffer.from('key'));
  let stop = false;
  let revokedAt = -1;
  const violations: string[] = [];
  let reads = 0;
  const reader = async () => {
    while (!stop) {
      const began = Date.now();
      const startedAfterRevoke = revokedAt >= 0 && began >= revokedAt;
      const e = await b.get('datakey.hot');
      reads++;
      if (startedAfterRevoke && e) violations.push(`read began ${began - revokedAt} ms after the delete was acknowledged and still saw the key`);
    }
  };
  const readers = Array.from({ length: 8 }, reader);
  await new Promise((r) => setTimeout(r, 100));
  await a.delete('datakey.hot', rev);
  revokedAt = Date.now();
  await new Promise((r) => setTimeout(r, 200));
  stop = true;
  await Promise.all(readers);
  t.same(violations, []);
  t.ok(reads > 50, `${reads} reads during the run`);
});

t.test('nonce keys are never held; reads of them go to the KV', async (t) => {
  const { a, b } = await pair(t);
  for (let i = 0; i < 50; i++) await a.create(`nonce.7.n${i}`, Buffer.from('1'));
  await a.create('party.p', Buffer.from('{}'));
  t.ok(await b.get('nonce.7.n3'));
  t.notOk(await b.get('nonce.7.nope'));
  t.equal((await b.list('nonce')).length, 50, 'list of an unheld prefix reads the KV');
  await b.get('party.p');
  t.equal(b.cache!.stats().entries, 1, 'only party.p is held');
  t.notOk(b.cache!.holds('nonce.7.n3'));
});

t.test("an operator's purge marker drops the key from the mirror", async (t) => {
  const { a, b, bucket } = await pair(t);
  await a.create('datakey.purged', Buffer.from('v'));
  t.ok(await b.get('datakey.purged'));
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  await (await nc.jetstream().views.kv(bucket)).purge('datakey.purged');
  t.notOk(await b.get('datakey.purged'));
  t.notOk(await a.get('datakey.purged'));
});

t.test('the watch consumer deleted under it: reads stay correct, the mirror recovers', async (t) => {
  const { a, b, bucket, states } = await pair(t, { readCacheOptions: { barrierTimeoutMs: 300 } });
  await a.create('datakey.c', Buffer.from('1'));
  t.equal((await b.get('datakey.c'))?.value.toString(), '1');
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const jsm = await nc.jetstreamManager();
  const consumers = await jsm.consumers.list(`KV_${bucket}`).next();
  t.equal(consumers.length, 2, "each replica's watch is one consumer");
  for (const c of consumers) await jsm.consumers.delete(`KV_${bucket}`, c.name);
  // Writes go on while nobody watches; every read must still see them.
  let v = 1;
  const deadline = Date.now() + 8000;
  let bypassed = 0;
  while (Date.now() < deadline) {
    const cur = await a.get('datakey.c');
    await a.update('datakey.c', Buffer.from(String(++v)), cur!.revision);
    t.equal((await b.get('datakey.c'))?.value.toString(), String(v), `read ${v} on B`);
    bypassed = b.cache!.stats().bypassed;
    if (bypassed > 0 && b.cache!.stats().state === 'current') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(bypassed > 0, `B sent ${bypassed} reads to the KV while its mirror was behind`);
  t.equal(b.cache!.stats().state, 'current', 'and caught up again');
  const ofB = states.filter((s) => s.startsWith('B '));
  t.ok(ofB.includes('B behind') && ofB.at(-1) === 'B current', `state changes: ${states.join(' -> ')}`);
  await a.update('datakey.c', Buffer.from('last'), (await a.get('datakey.c'))!.revision);
  t.equal((await b.get('datakey.c'))?.value.toString(), 'last');
});

t.test('the server killed: a read fails with STORE_UNAVAILABLE, never a stale answer', async (t) => {
  const own = await startNats(t);
  const s = await NatsStore.open({ servers: own.url, bucket: 'cm_mirror_kill', timeoutMs: 1000, readCacheOptions: { uncachedPrefixes: UNCACHED_KEY_PREFIXES, barrierTimeoutMs: 300 } });
  t.teardown(() => s.close());
  await s.create('datakey.k', Buffer.from('v'));
  t.ok(await s.get('datakey.k'));
  await own.kill();
  await t.rejects(s.get('datakey.k'), { code: 'STORE_UNAVAILABLE' });
  await t.rejects(s.list('datakey'), { code: 'STORE_UNAVAILABLE' });
});

t.test('readCache false: no mirror, same answers', async (t) => {
  const s = await NatsStore.open({ servers: nats.url, bucket: 'cm_no_mirror', readCache: false });
  t.teardown(() => s.close());
  t.equal(s.cache, undefined);
  await s.create('datakey.x', Buffer.from('1'));
  t.equal((await s.get('datakey.x'))?.value.toString(), '1');
  t.same((await s.list('datakey')).map((e) => e.key), ['datakey.x']);
});
