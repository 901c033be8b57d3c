// One contract for every Store implementation: the file store and NATS KV run
// the very same assertions.
import type { Test } from 'tap';
import type { Store } from '../../../capsule-manager/core/store.ts';
import { encodeKeyPart } from '../../../capsule-manager/core/store.ts';
import { openKek } from '../../../capsule-manager/core/kek.ts';

export function storeContract(t: Test, name: string, open: () => Promise<Store>): void {
  t.test(`${name}: create/get/update/delete with revisions`, async (t) => {
    const s = await open();
    t.teardown(() => s.close());
    t.equal(await s.get('a.b'), undefined);
    const r1 = await s.create('a.b', Buffer.from('one'));
    t.ok(r1 > 0);
    await t.rejects(s.create('a.b', Buffer.from('dup')), { code: 'ALREADY_EXISTS' });
    const e = await s.get('a.b');
    t.equal(e!.value.toString(), 'one');
    t.equal(e!.revision, r1);
    const r2 = await s.update('a.b', Buffer.from('two'), r1);
    t.ok(r2 > r1);
    await t.rejects(s.update('a.b', Buffer.from('stale'), r1), { code: 'CONFLICT' }, 'compare-and-set refuses a stale revision');
    t.equal((await s.get('a.b'))!.value.toString(), 'two', 'a refused update changes nothing');
    await t.rejects(s.update('a.missing', Buffer.from('x'), 1), { code: 'NOT_FOUND' });
    await t.rejects(s.delete('a.b', r1), { code: 'CONFLICT' });
    await s.delete('a.b', r2);
    t.equal(await s.get('a.b'), undefined);
    await t.rejects(s.delete('a.b'), { code: 'NOT_FOUND' });
    const r3 = await s.create('a.b', Buffer.from('again'));
    t.ok(r3 > r2, 're-create after delete');
    await t.rejects(s.get('bad key!'), { code: 'INVALID_REQUEST' });
    await t.rejects(s.create('', Buffer.from('x')), { code: 'INVALID_REQUEST' });
  });

  t.test(`${name}: list by prefix, encoded key parts`, async (t) => {
    const s = await open();
    t.teardown(() => s.close());
    const odd = encodeKeyPart('data/uuid with spaces/é');
    await s.create(`p.${odd}`, Buffer.from('1'));
    await s.create('p.x', Buffer.from('2'));
    await s.create('q.x', Buffer.from('3'));
    await s.create('pp.x', Buffer.from('4'));
    const l = await s.list('p');
    t.same(l.map((e) => e.key).sort(), [`p.${odd}`, 'p.x'].sort());
    t.same(l.map((e) => e.value.toString()).sort(), ['1', '2']);
  });

  t.test(`${name}: concurrent compare-and-set: exactly one winner`, async (t) => {
    const s = await open();
    t.teardown(() => s.close());
    const r = await s.create('cas.k', Buffer.from('0'));
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => s.update('cas.k', Buffer.from(String(i + 1)), r)));
    t.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
    t.equal(results.filter((x) => x.status === 'rejected' && (x.reason as { code: string }).code === 'CONFLICT').length, 7);
  });

  t.test(`${name}: KEK wraps keys; wrong passphrase refused; no key in clear`, async (t) => {
    const s = await open();
    t.teardown(() => s.close());
    const kek = await openKek(s, 'correct horse battery', { cost: 2 ** 12 });
    const secret = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const w = kek.wrap(secret, 'datakey.x');
    await s.create('datakey.x', Buffer.from(JSON.stringify(w)));
    const all = await s.list('');
    for (const e of all) t.notOk(e.value.includes(secret) || e.value.toString().includes(secret.toString('base64')), `${e.key} holds no clear key`);
    const again = await openKek(s, 'correct horse battery');
    t.same(again.unwrap(JSON.parse((await s.get('datakey.x'))!.value.toString()), 'datakey.x'), secret);
    t.throws(() => again.unwrap(w, 'datakey.other'), { code: 'STORE_CORRUPT' }, 'bound to its name');
    await t.rejects(openKek(s, 'wrong passphrase!'), { code: 'KEK_MISMATCH' });
    await t.rejects(openKek(s, { sealingKey: Buffer.alloc(32, 1) }), { code: 'KEK_MISMATCH', message: /comes from a passphrase/ }, 'a sealing key cannot open a passphrase store');
  });

  t.test(`${name}: sealed KEK (TEE sealing key): same key reopens, another key or a passphrase is refused`, async (t) => {
    const s = await open();
    t.teardown(() => s.close());
    const sealingKey = Buffer.from('a1'.repeat(16), 'hex');
    const kek = await openKek(s, { sealingKey });
    const secret = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex');
    await s.create('datakey.s', Buffer.from(JSON.stringify(kek.wrap(secret, 'datakey.s'))));
    const meta = (await s.get('meta.kek'))!.value.toString();
    t.notMatch(meta, sealingKey.toString('base64'), 'the sealing key is not stored');
    t.match(JSON.parse(meta), { source: 'sealed' });
    const again = await openKek(s, { sealingKey: Buffer.from(sealingKey) });
    t.same(again.unwrap(JSON.parse((await s.get('datakey.s'))!.value.toString()), 'datakey.s'), secret, 'the same sealing key unwraps');
    await t.rejects(openKek(s, { sealingKey: Buffer.from('b2'.repeat(16), 'hex') }), { code: 'KEK_MISMATCH', message: /another enclave or machine/ }, 'another sealing key is refused');
    await t.rejects(openKek(s, 'a passphrase instead'), { code: 'KEK_MISMATCH', message: /comes from a TEE sealing key/ }, 'a passphrase is refused');
    await t.rejects(openKek(s, { sealingKey: Buffer.alloc(8) }), { code: 'INVALID_REQUEST' }, 'a too-short sealing key is refused');
  });
}
