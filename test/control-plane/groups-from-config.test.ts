// `aenv control-plane --config` serves communication groups with nothing but its
// config file: acting for its app it attests to a real capsule manager, gets a
// leaf for a key it generated, and serves leaf and group CA as SDS secrets; a
// group the CM does not grant is shown as denied and retried, never fatal.
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generatePartyKeys } from '../../capsule-manager/index.ts';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { APP_MR, startTestCapsuleManager } from '../helpers/capsule-manager.ts';

interface Status {
  groups: Array<{ name: string; state: string; rotations: number; failures: number; lastError?: string; notAfter?: string }> | null;
  secrets: Array<{ name: string; kind: string; subject: string }>;
}

t.test('groups from the control plane config file', async (t) => {
  const f = await startTestCapsuleManager(t);
  const dir = mkdtempSync(join(tmpdir(), 'cp-groups-'));
  const alice = await generatePartyKeys('alice');
  const app = await generatePartyKeys('app');
  const A = f.client(alice);
  await A.registerCert();
  await A.createDataKeys([{ resource_uri: 'g-ok', data_key_b64: randomBytes(16).toString('base64') }, { resource_uri: 'g-no', data_key_b64: randomBytes(16).toString('base64') }]);
  await A.addDataRule('g-ok', { rule_id: 'talk', grantee_party_ids: [app.partyId], columns: ['*'], op_constraints: [{ op_name: 'interact', constraints: [] }], global_constraints: [] });

  writeFileSync(join(dir, 'app.key.pem'), app.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'app.cert.pem'), app.certPem);
  writeFileSync(join(dir, 'cm-sim.pem'), f.cm.simPublicKeyPem!);
  const cfg = join(dir, 'cp.yaml');
  writeFileSync(
    cfg,
    stringify({
      id: 'groups-cp',
      logLevel: 'warn',
      groups: {
        capsuleManager: {
          address: `127.0.0.1:${f.cm.grpcPort}`,
          keyFile: join(dir, 'app.key.pem'),
          certFile: join(dir, 'app.cert.pem'),
          verify: { trustedSimKeyFiles: [join(dir, 'cm-sim.pem')], allowInsecure: true },
          attester: { platform: 'sim', simKeyDir: join(f.dir, 'app-sim'), simMeasurements: { mr_ta: APP_MR } },
        },
        bindings: [
          { name: 'ok', resourceUri: 'g-ok', certSecret: 'ok-cert', caSecret: 'ok-ca' },
          { name: 'no', resourceUri: 'g-no', certSecret: 'no-cert', caSecret: 'no-ca' },
        ],
      },
    }),
  );
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/aenv.js'), 'control-plane', '--config', cfg], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => (child.exitCode === null ? child.kill('SIGKILL') : undefined));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 30_000;
  while (!/API (http:\/\/\S+)/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  const apiUrl = /API (http:\/\/\S+)/.exec(out)?.[1];
  t.ok(apiUrl, `the control plane started (${out.slice(0, 200)})`);
  let st: Status | undefined;
  while (Date.now() < deadline) {
    st = (await (await fetch(`${apiUrl}/v1/status`)).json()) as Status;
    const byName = Object.fromEntries((st.groups ?? []).map((g) => [g.name, g]));
    if (byName.ok?.state === 'active' && byName.no?.state === 'denied') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const byName = Object.fromEntries((st?.groups ?? []).map((g) => [g.name, g]));
  t.equal(byName.ok?.state, 'active', 'the granted group is served');
  t.equal(byName.ok?.rotations, 1);
  t.equal(byName.no?.state, 'denied', 'the other one is denied, not fatal');
  t.match(byName.no?.lastError, /op "interact"|not satisfied with the policy/, 'with the CM\'s reason');
  const secrets = Object.fromEntries((st?.secrets ?? []).map((s) => [s.name, s]));
  t.equal(secrets['ok-cert']?.kind, 'tls_certificate', 'the leaf (with its key) is an SDS secret');
  t.equal(secrets['ok-ca']?.kind, 'validation_context', 'the group CA too');
  t.notOk(secrets['no-cert'], 'nothing for the denied group');
  t.notMatch(JSON.stringify(st), /PRIVATE KEY/, 'no key material in the status');
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  t.equal(code, 0, 'exit 0 after SIGTERM');
});
