// NATS connection security of the capsule manager's store and the control
// plane's routing sync, against real nats-servers that require TLS with client
// certificates and user/password or nkey authorization, or a token.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from 'nats';
import { startNats, type NatsProcess } from '../helpers/nats.ts';
import { createTestCa, issueTestLeaf } from '../helpers/test-pki.ts';
import { NatsStore } from '../../capsule-manager/storage/nats-store.ts';
import { CapsuleManagerConfigSchema } from '../../capsule-manager/config.ts';
import { startControlPlane } from '../../control-plane/start.ts';
import { startTestControlPlane } from '../helpers/control-plane.ts';
import { validateConfig } from '../../foundation/config.ts';
import { natsSecurityOptions } from '../../net/nats-connection.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { routeSample } from '../control-plane/plugin-samples.ts';

const dir = mkdtempSync(join(tmpdir(), 'nats-security-'));
const secret = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, `${text}\n`, { mode: 0o600 });
  return p;
};

const PASSWORD = 'correct horse battery staple 7f3a';
const ca = await createTestCa(dir, 'nats-ca');
const otherCa = await createTestCa(dir, 'other-ca');
const server = await issueTestLeaf(ca, dir, 'nats-server', 'server');
const client = await issueTestLeaf(ca, dir, 'aenv-client', 'client');
const strangerClient = await issueTestLeaf(otherCa, dir, 'stranger', 'client');
const user = nkeys.createUser();
const seedFile = secret('user.nk', new TextDecoder().decode(user.getSeed()));
const passwordFile = secret('password', PASSWORD);
const wrongPasswordFile = secret('wrong-password', 'not the password at all');

/** Connections the server has seen since it started (monitoring /varz). */
async function totalConnections(nats: NatsProcess): Promise<number> {
  return ((await (await fetch(`http://127.0.0.1:${nats.monitorPort}/varz`)).json()) as { total_connections: number }).total_connections;
}

async function roundTrip(store: NatsStore, key: string): Promise<string | undefined> {
  await store.create(key, Buffer.from(`value of ${key}`));
  return (await store.get(key))?.value.toString();
}

const mtls = { caFile: ca.certFile, certFile: client.certFile, keyFile: client.keyFile };

t.test('mTLS + user/password and nkey: the CM store connects; every wrong credential is refused', async (t) => {
  const nats = await startNats(t, {
    tls: { certFile: server.certFile, keyFile: server.keyFile, verifyClientsCaFile: ca.certFile },
    authorization: { users: [{ user: 'cm', password: PASSWORD }, { nkey: user.getPublicKey() }] },
  });
  const open = (o: object) => NatsStore.open({ servers: [nats.url], bucket: 'secure_cm', timeoutMs: 3000, ...o });

  const byPassword = await open({ tls: mtls, user: 'cm', passwordFile });
  t.teardown(() => byPassword.close());
  t.equal(await roundTrip(byPassword, 'k1'), 'value of k1', 'user/password over mTLS: write and read back');
  const byNkey = await open({ tls: mtls, nkeySeedFile: seedFile });
  t.teardown(() => byNkey.close());
  t.equal((await byNkey.get('k1'))?.value.toString(), 'value of k1', 'nkey over mTLS reads what the other wrote');

  const refused: Array<[string, object, RegExp]> = [
    ['wrong password', { tls: mtls, user: 'cm', passwordFile: wrongPasswordFile }, /authorization/i],
    ['no credentials', { tls: mtls }, /authorization/i],
    // the server ends the handshake; nats.js reports its connect timeout
    ['no client certificate', { tls: { caFile: ca.certFile }, user: 'cm', passwordFile }, /TIMEOUT|certificate|handshake/i],
    ['client certificate of another CA', { tls: { caFile: ca.certFile, certFile: strangerClient.certFile, keyFile: strangerClient.keyFile }, user: 'cm', passwordFile }, /TIMEOUT|certificate|handshake/i],
    ['server not trusted (other CA)', { tls: { caFile: otherCa.certFile, certFile: client.certFile, keyFile: client.keyFile }, user: 'cm', passwordFile }, /certificate|verify|signature/i],
    // nats.js upgrades to the TLS the server requires, but trusts only the system CAs
    ['plaintext config to a TLS server', { user: 'cm', passwordFile }, /certificate|verify/i],
  ];
  for (const [what, o, cause] of refused) {
    const e = await open(o).then(
      (s) => (void s.close(), undefined),
      (err: Error & { code?: string; cause?: Error }) => err,
    );
    t.equal(e?.code, 'STORE_UNAVAILABLE', `${what}: refused with STORE_UNAVAILABLE`);
    t.match(String(e?.cause?.message ?? e?.cause), cause, `${what}: the cause says why (${String(e?.cause?.message ?? e?.cause).slice(0, 80)})`);
    t.notMatch(`${e?.message} ${String(e?.cause)}`, PASSWORD, `${what}: the password is not in the error`);
  }
  t.equal(await roundTrip(byPassword, 'k2'), 'value of k2', 'the good connections are unaffected');
});

t.test('token authorization: the control plane replicates routing; a wrong token is refused', async (t) => {
  const token = 's3cret-token-' + 'x'.repeat(20);
  const nats = await startNats(t, { authorization: { token } });
  const nc = { servers: [nats.url], bucket: 'secure_routing', tokenFile: secret('token', token) };
  const cp = await startTestControlPlane(t, { id: 'cp-token', app: { plugins: [routeSample()] }, nats: nc });
  const put = await cp.api('PUT', '/v1/clusters/c1', { endpoints: [{ address: '127.0.0.1', port: 7001 }] });
  t.equal(put.status, 200, `a routing write goes through the token-authorized bucket (${put.status === 200 ? 'ok' : await put.text()})`);
  t.equal(cp.status().replication.mode, 'nats');

  const before = cp.routing.get().revision;
  await t.rejects(
    startControlPlane({ id: 'cp-bad', nats: { ...nc, tokenFile: secret('bad-token', 'wrong-token-0123456789') } }, { logger: silentLogger }),
    { code: 'UNAVAILABLE', message: /cannot connect to NATS/ },
    'a wrong token: the control plane does not start',
  );
  await t.rejects(
    startControlPlane({ id: 'cp-tls', nats: { ...nc, tls: { caFile: ca.certFile } } }, { logger: silentLogger }),
    { code: 'UNAVAILABLE' },
    'tls configured but the server offers none: refused, never plaintext',
  );
  t.equal(cp.routing.get().revision, before, 'nothing changed');
});

t.test('config errors fail before any connection is made', async (t) => {
  const nats = await startNats(t, { authorization: { users: [{ user: 'cm', password: PASSWORD }] } });
  const seen = await totalConnections(nats);
  const cases: Array<[string, object, RegExp]> = [
    ['user without passwordFile', { user: 'cm' }, /user and passwordFile go together/],
    ['two methods', { user: 'cm', passwordFile, nkeySeedFile: seedFile }, /only one of/],
    ['missing password file', { user: 'cm', passwordFile: join(dir, 'absent') }, /passwordFile .* cannot be read/],
    ['empty token file', { tokenFile: secret('empty', '') }, /tokenFile .* is empty/],
    ['not a user seed', { nkeySeedFile: passwordFile }, /does not hold a user nkey seed/],
    ['certFile without keyFile', { tls: { caFile: ca.certFile, certFile: client.certFile } }, /certFile and keyFile go together/],
    ['unreadable CA', { tls: { caFile: join(dir, 'no-ca.pem') } }, /tls\.caFile .* cannot be read/],
  ];
  for (const [what, o, message] of cases) {
    t.throws(() => natsSecurityOptions(o, 'storage.nats'), { message }, what);
    await t.rejects(NatsStore.open({ servers: [nats.url], ...o }), { message }, `${what}: the store refuses to open`);
  }
  t.equal(await totalConnections(nats), seen, 'the server saw no connection attempt');
  t.notMatch(JSON.stringify(natsSecurityOptions({ user: 'cm', passwordFile }, 'x')), PASSWORD, 'options hold the password only inside the authenticator');
});

t.test('the CM config schema accepts the security fields and refuses unknown ones', async (t) => {
  const storage = { kind: 'nats', nats: { servers: ['tls://127.0.0.1:4222'], tls: mtls, user: 'cm', passwordFile } };
  const cfg = validateConfig(CapsuleManagerConfigSchema, { storage }, 'cm config');
  t.same(cfg.storage.nats?.tls, mtls);
  t.throws(() => validateConfig(CapsuleManagerConfigSchema, { storage: { ...storage, nats: { ...storage.nats, password: PASSWORD } } }, 'cm config'), /password/, 'an inline password is not a field');
});
