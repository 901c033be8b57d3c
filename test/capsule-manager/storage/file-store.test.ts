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
