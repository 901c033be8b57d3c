import { mkdtempSync, readFileSync, appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FileStore } from '../../../capsule-manager/storage/file-store.ts';
import { storeContract } from './store-contract.ts';

storeContract(t, 'file store', async () => FileStore.open({ dir: mkdtempSync(join(tmpdir(), 'cm-fs-')), compactEvery: 5 }));

t.test('file store: reopen keeps everything (through compaction); torn tail cut; damage reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-fs-'));
  let s = await FileStore.open({ dir, compactEvery: 7 });
  for (let i = 0; i < 20; i++) await s.create(`k.${i}`, Buffer.from(`v${i}`));
  await s.delete('k.3');
  const rev = (await s.get('k.4'))!.revision;
  await s.update('k.4', Buffer.from('new'), rev);
  await t.rejects(FileStore.open({ dir }), { code: 'STORE_LOCKED' }, 'one process per directory');
  await s.close();
  s = await FileStore.open({ dir });
  t.equal((await s.list('k')).length, 19);
  t.equal((await s.get('k.4'))!.value.toString(), 'new');
  t.equal(await s.get('k.3'), undefined);
  await s.close();
  // a torn final record (crash mid-append) is dropped, the rest kept
  appendFileSync(join(dir, 'wal.log'), '{"op":"put","key":"k.torn","rev":999,"v":"eA=="}\tdead');
  s = await FileStore.open({ dir });
  t.equal(await s.get('k.torn'), undefined);
  t.equal((await s.list('k')).length, 19);
  await s.create('k.after', Buffer.from('ok'));
  await s.close();
  s = await FileStore.open({ dir });
  t.equal((await s.get('k.after'))!.value.toString(), 'ok');
  await s.close();
  // damage in the middle of the log is not silently skipped
  const wal = readFileSync(join(dir, 'wal.log'), 'utf8');
  if (wal.split('\n').length > 2) {
    writeFileSync(join(dir, 'wal.log'), 'garbage\n' + wal);
    await t.rejects(FileStore.open({ dir }), { code: 'STORE_CORRUPT' });
  }
});

t.test('file store: group commit shares fsyncs, keeps compare-and-set exact, shows a write only once it is durable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-fs-'));
  let s = await FileStore.open({ dir, compactEvery: 10_000 });
  // 200 concurrent creates: far fewer batches (fsyncs) than records.
  await Promise.all(Array.from({ length: 200 }, (_, i) => s.create(`g.${i}`, Buffer.from(String(i)))));
  t.equal(s.commits.records, 200);
  t.ok(s.commits.batches < 20, `200 writes in ${s.commits.batches} fsync batches`);
  // Two concurrent creates of one key (a nonce claimed twice): exactly one wins.
  const claims = await Promise.allSettled([s.create('n.1', Buffer.from('a')), s.create('n.1', Buffer.from('b'))]);
  t.same(claims.map((c) => c.status).sort(), ['fulfilled', 'rejected']);
  t.match((claims.find((c) => c.status === 'rejected') as PromiseRejectedResult).reason, { code: 'ALREADY_EXISTS' });
  // Two concurrent updates from the same revision: one CONFLICT; a third sees the staged one.
  const rev = (await s.get('g.0'))!.revision;
  const ups = await Promise.allSettled([s.update('g.0', Buffer.from('x'), rev), s.update('g.0', Buffer.from('y'), rev)]);
  t.same(ups.map((c) => c.status), ['fulfilled', 'rejected']);
  t.match((ups[1] as PromiseRejectedResult).reason, { code: 'CONFLICT' });
  t.equal((await s.get('g.0'))!.value.toString(), 'x');
  // Not visible before it is acknowledged; visible after.
  const pending = s.create('late.1', Buffer.from('v'));
  t.equal(await s.get('late.1'), undefined, 'a staged write is not read before its fsync');
  const delPending = s.delete('g.1');
  await t.rejects(s.delete('g.1'), { code: 'NOT_FOUND' }, 'a staged delete is seen by the next write');
  await Promise.all([pending, delPending]);
  t.equal((await s.get('late.1'))!.value.toString(), 'v');
  t.equal(await s.get('g.1'), undefined);
  // Writes accepted before close() are durable after it.
  const last = s.create('close.1', Buffer.from('c'));
  await s.close();
  await last;
  await t.rejects(s.create('close.2', Buffer.from('c')), { code: 'STORE_UNAVAILABLE' });
  s = await FileStore.open({ dir });
  t.equal((await s.list('g')).length, 199);
  t.equal((await s.get('n.1'))!.value.length, 1);
  t.equal((await s.get('close.1'))!.value.toString(), 'c');
  await s.close();
});
