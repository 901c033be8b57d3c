// The online example end to end through real Envoy: ra-proxy (sim platform)
// serves the attestation document, ext-proc decrypts, the example app answers.
// Clients: the TypeScript client (client/) and the independent
// Python client (jwcrypto + cryptography) — interop with JOSE code not written here.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPairSync } from 'node:crypto';
import { freePorts } from '../../dev/free-port.ts';
import { silentLogger } from '../../foundation/logger.ts';
import { PROJECT_ROOT, pythonBin } from '../../dev/toolchain.ts';
import { startRaProxy } from '../../ra-proxy/start.ts';
import { startExtProc } from '../../ext-proc/start.ts';
import { startApp } from '../../dev/sample-app.ts';
import { runOnlineClient } from '../../client/index.ts';
import { main as clientMain } from '../../client/cli.ts';
import { startOnlineEnvoy, testIdentity } from '../helpers/ext-proc.ts';
import { parse as parseYaml } from 'yaml';
import { validateConfig } from '../../foundation/config.ts';
import { ControlPlaneConfig } from '../../control-plane/config.ts';
import { captureOutput } from '../helpers/capture-output.ts';

const run = promisify(execFile);

t.test('online example: attest, seal "hello", read the reply (TS and Python clients)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'online-example-'));
  const identity = await testIdentity();
  const ra = await startRaProxy({ platform: 'sim', sim: { keyDir: join(dir, 'sim'), measurements: { app: 'aa'.repeat(32) } }, grpc: { enabled: false } }, { identity, logger: silentLogger });
  t.teardown(() => ra.close());
  const simKeyPem = ra.simPublicKeyPem!;
  t.ok(simKeyPem, 'ra-proxy exposes its sim key');
  const simKeyFile = join(dir, 'sim.pub.pem');
  writeFileSync(simKeyFile, simKeyPem);
  const app = await startApp();
  t.teardown(() => app.close());
  const ep = await startExtProc({ http: { enabled: false } }, { identity, logger: silentLogger });
  t.teardown(() => ep.close());
  const compatEp = await startExtProc({ http: { enabled: false }, compat: 'trustflow' }, { identity, logger: silentLogger });
  t.teardown(() => compatEp.close());
  const [port, compatPort] = await freePorts(2);
  // Main path: the example's own app config, ports filled in, through the control
  // plane (Envoy knows only the generated bootstrap). The compat pair uses the
  // static bootstrap with the same filter config.
  const cpConfig = parseYaml(readFileSync(join(PROJECT_ROOT, 'examples/online/control-plane.yaml'), 'utf8')) as { app: { plugins: Array<{ config: Record<string, { port: number }> }> } };
  t.doesNotThrow(() => validateConfig(ControlPlaneConfig, cpConfig), 'examples/online/control-plane.yaml is a valid control-plane config');
  const appConfig = cpConfig.app;
  const c = appConfig.plugins[0]!.config;
  c.listener!.port = port!;
  c.app!.port = app.port;
  c.raProxy!.port = ra.httpPort;
  c.extProc!.port = ep.port;
  await startOnlineEnvoy(t, { listenPort: port!, appPort: app.port, extProcPort: ep.port, raProxyPort: ra.httpPort, appConfig });
  await startOnlineEnvoy(t, { listenPort: compatPort!, appPort: app.port, extProcPort: compatEp.port, raProxyPort: ra.httpPort, via: 'static' });
  const url = `http://127.0.0.1:${port}`;
  const policy = { allowInsecure: true, measurements: { app: 'aa'.repeat(32) } };

  for (const key of ['rsa', 'x25519', 'p256'] as const) {
    const out = await runOnlineClient({ url, message: 'hello', key, trustedSimKeys: [simKeyPem], policy, sessionMessages: key === 'x25519' ? ['again', 'and again'] : [] });
    t.equal(out.reply, 'I got your message: hello', `TS client (${key}) prints the reply`);
    t.equal(out.kid, identity.keys[key].kid, 'encrypted to the attested key');
    t.equal(out.claims.platform, 'sim');
    if (key === 'x25519') t.same(out.sessionReplies, ['I got your message: again', 'I got your message: and again'], 'session follow-ups');
  }
  const compatOut = await runOnlineClient({ url: `http://127.0.0.1:${compatPort}`, message: 'hello', compat: 'trustflow', trustedSimKeys: [simKeyPem], policy });
  t.equal(compatOut.reply, 'I got your message: hello', 'TS client in Trustflow form against compat mode');

  // Attestation failures stop the client before anything is sent.
  const otherSim = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  await t.rejects(runOnlineClient({ url, message: 'hello', trustedSimKeys: [otherSim], policy }), 'untrusted sim key is refused');
  await t.rejects(runOnlineClient({ url, message: 'hello', trustedSimKeys: [simKeyPem], policy: { ...policy, measurements: { app: 'bb'.repeat(32) } } }), /measurement|policy/i, 'wrong measurement is refused');

  // The CLI entry point prints the reply.
  const cli = await captureOutput(() => clientMain(['--url', url, '--sim-key', simKeyFile, '--key', 'x25519', '--measurement', `app=${'aa'.repeat(32)}`]));
  t.equal(cli.value, 0);
  t.equal(cli.out, 'I got your message: hello\n', 'client CLI prints the decrypted reply');

  // Independent Python client (jwcrypto for RFC 7516, cryptography for Trustflow's form).
  const py = join(PROJECT_ROOT, 'examples/online/python/client.py');
  for (const [alg, u, compat] of [['RSA-OAEP-256', url, 'rfc7516'], ['ECDH-ES', url, 'rfc7516'], ['ECDH-ES+A256KW', url, 'rfc7516'], ['RSA-OAEP-256', `http://127.0.0.1:${compatPort}`, 'trustflow']] as const) {
    const { stdout } = await run(pythonBin(), [py, '--url', u, '--sim-key', simKeyFile, '--alg', alg, '--compat', compat], { timeout: 20_000 });
    t.equal(stdout, 'I got your message: hello\n', `Python client ${alg} ${compat}`);
  }
  writeFileSync(join(dir, 'other.pem'), otherSim);
  const bad = await run(pythonBin(), [py, '--url', url, '--sim-key', join(dir, 'other.pem')], { timeout: 20_000 }).catch((e: { code: number }) => e);
  t.not((bad as { code?: number }).code, 0, 'Python client refuses a quote signed by an untrusted sim key');
  t.match((bad as { stderr?: string }).stderr, /untrusted sim key/);
});
