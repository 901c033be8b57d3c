import t from 'tap';
import { connect } from 'nats';
import { NatsStore } from '../../../capsule-manager/storage/nats-store.ts';
import { startNats } from '../../helpers/nats.ts';
import { storeContract } from './store-contract.ts';

const nats = await startNats(t);
let n = 0;
storeContract(t, 'nats kv store', async () => NatsStore.open({ servers: nats.url, bucket: `cm_contract_${++n}` }));

t.test('nats kv store: two replicas share state; CAS across connections', async (t) => {
  const a = await NatsStore.open({ servers: nats.url, bucket: 'cm_shared' });
  const b = await NatsStore.open({ servers: nats.url, bucket: 'cm_shared' });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const r = await a.create('x.y', Buffer.from('1'));
  t.equal((await b.get('x.y'))!.value.toString(), '1');
  await b.update('x.y', Buffer.from('2'), r);
  await t.rejects(a.update('x.y', Buffer.from('3'), r), { code: 'CONFLICT' });
  t.equal((await a.get('x.y'))!.value.toString(), '2');
});

t.test('nats kv store: unreachable server is a clear error', async (t) => {
  await t.rejects(NatsStore.open({ servers: 'nats://127.0.0.1:1', timeoutMs: 500 }), { code: 'STORE_UNAVAILABLE' });
});

t.test('nats kv store: deleted and purged keys are not listed; bad prefix refused', async (t) => {
  const s = await NatsStore.open({ servers: nats.url, bucket: 'cm_list_markers' });
  t.teardown(() => s.close());
  await s.create('m.live', Buffer.from('1'));
  await s.create('m.deleted', Buffer.from('2'));
  await s.create('m.purged', Buffer.from('3'));
  await s.delete('m.deleted');
  // A purge marker (not written by the store itself, but by an operator's `nats kv purge`).
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  await (await nc.jetstream().views.kv('cm_list_markers')).purge('m.purged');
  t.same((await s.list('m')).map((e) => e.key), ['m.live']);
  t.same((await s.list('')).map((e) => e.key), ['m.live']);
  t.same(await s.list('nothing'), []);
  await t.rejects(s.list('m.>'), { code: 'INVALID_REQUEST' });
  t.equal(s.bucket, 'cm_list_markers');
});
