// `aenv capsule-manager serve -c cm.yaml` as a real process: it prints its
// ports, serves a verifiable GetRaCert, refuses a missing passphrase, and
// exits 0 on SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { stringify } from 'yaml';
import { CapsuleManagerClient } from '../../capsule-manager/transport/client.ts';
import { generatePartyKeys } from '../../capsule-manager/core/party-keys.ts';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';

function serve(cfgPath: string, env: NodeJS.ProcessEnv) {
  return spawn(process.execPath, ['--import=tsx', '-e', `import('./capsule-manager/cli.ts').then(async (m) => process.exit(await m.main(['serve', '-c', ${JSON.stringify(cfgPath)}])))`], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

t.test('serve runs, answers, stops on SIGTERM; no passphrase is a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-serve-'));
  const cfg = join(dir, 'cm.yaml');
  writeFileSync(cfg, stringify({ grpc: { port: 0 }, http: { port: 0 }, identityDir: join(dir, 'id'), storage: { kind: 'file', dir: join(dir, 'store') }, kek: { scryptCost: 1024 }, attestation: { self: 'sim' }, logLevel: 'silent' }));
  const bad = serve(cfg, { AENV_CM_KEK_PASSPHRASE: '' });
  let err = '';
  bad.stderr.on('data', (d) => (err += d));
  const badCode = await new Promise<number | null>((r) => bad.on('exit', r));
  t.equal(badCode, 1);
  t.match(err, /no KEK passphrase/);

  const child = serve(cfg, { AENV_CM_KEK_PASSPHRASE: 'serve test passphrase' });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`exited ${c}`)));
  });
  const info = JSON.parse(line) as { grpcPort: number; httpPort: number; simPublicKeyPem: string };
  t.ok(info.grpcPort > 0 && info.httpPort > 0);
  const p = await generatePartyKeys('p');
  const c = new CapsuleManagerClient({ address: `127.0.0.1:${info.grpcPort}`, signer: { privateKey: p.privateKey, certChainPem: [p.certPem] }, verify: { trustedSimKeys: [info.simPublicKeyPem], policy: { allowInsecure: true } } });
  const r = await c.connect();
  t.equal(r.claims!.platform, 'sim');
  await c.registerCert();
  c.close();
  child.kill('SIGTERM');
  t.equal(await new Promise<number | null>((res) => child.on('exit', res)), 0);
});
