import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { envoyBin } from '../../dev/toolchain.ts';
import { generateBootstrap, toYaml } from '../../envoy-bootstrap/index.ts';
import { main } from '../../envoy-bootstrap/cli.ts';
import { captureOutput } from '../helpers/capture-output.ts';

function validate(path: string): { status: number | null; out: string } {
  const r = spawnSync(envoyBin(), ['--mode', 'validate', '-c', path, '--disable-hot-restart', '-l', 'error'], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

t.test('sotw and delta bootstraps pass envoy --mode validate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootstrap-'));
  for (const mode of ['sotw', 'delta'] as const) {
    const b = generateBootstrap({ nodeId: `n-${mode}`, cluster: 'c1', xdsAddress: '127.0.0.1', xdsPort: 18000, mode, adminPort: 0 });
    const path = join(dir, `${mode}.yaml`);
    await import('node:fs').then((fs) => fs.writeFileSync(path, toYaml(b)));
    const r = validate(path);
    t.equal(r.status, 0, `${mode}: envoy validate OK (${r.out.slice(-300)})`);
    const ads = (b.dynamic_resources as { ads_config: { api_type: string } }).ads_config;
    t.equal(ads.api_type, mode === 'delta' ? 'DELTA_GRPC' : 'GRPC');
    t.same((b.node as object), { id: `n-${mode}`, cluster: 'c1' });
    // ext_proc side streams are closed gracefully, and the admin layer stays writable.
    const layers = (b.layered_runtime as { layers: Array<{ name: string; static_layer?: Record<string, unknown>; admin_layer?: object }> }).layers;
    t.equal(layers[0]!.static_layer!['envoy.reloadable_features.ext_proc_graceful_grpc_close'], true);
    t.ok(layers.some((l) => l.admin_layer), 'admin runtime layer present');
  }
});

t.test('a hostname xDS address uses STRICT_DNS and still validates', async (t) => {
  const b = generateBootstrap({ nodeId: 'n', cluster: 'c', xdsAddress: 'localhost', xdsPort: 18000, mode: 'sotw' });
  const c = (b.static_resources as { clusters: Array<{ type: string }> }).clusters[0]!;
  t.equal(c.type, 'STRICT_DNS');
  const dir = mkdtempSync(join(tmpdir(), 'bootstrap-'));
  const path = join(dir, 'b.yaml');
  await import('node:fs').then((fs) => fs.writeFileSync(path, toYaml(b)));
  t.equal(validate(path).status, 0);
});

t.test('envoy validate rejects a broken bootstrap (the check can fail)', async (t) => {
  const b = generateBootstrap({ nodeId: 'n', cluster: 'c', xdsAddress: '127.0.0.1', xdsPort: 18000, mode: 'sotw' });
  (b.dynamic_resources as { ads_config: { api_type: string } }).ads_config.api_type = 'NOPE';
  const dir = mkdtempSync(join(tmpdir(), 'bootstrap-'));
  const path = join(dir, 'bad.yaml');
  await import('node:fs').then((fs) => fs.writeFileSync(path, toYaml(b)));
  t.not(validate(path).status, 0);
});

t.test('bad options are rejected with every error at once', async (t) => {
  t.throws(() => generateBootstrap({ nodeId: '', cluster: 'c c', xdsAddress: '127.0.0.1', xdsPort: 0, mode: 'x' as 'sotw' }), {
    code: 'INVALID_OPTIONS',
    message: /nodeId[\s\S]*cluster[\s\S]*xdsPort[\s\S]*mode/,
  });
});

t.test('CLI writes a validating bootstrap.yaml; --help and bad flags', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bootstrap-cli-'));
  const out = join(dir, 'bootstrap.yaml');
  t.equal(await main(['--node-id', 'cli-node', '--cluster', 'cl', '--xds-port', '18001', '--mode', 'delta', '--out', out]), 0);
  const y = parse(readFileSync(out, 'utf8')) as { node: { id: string }; dynamic_resources: { ads_config: { api_type: string } } };
  t.equal(y.node.id, 'cli-node');
  t.equal(y.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
  t.equal(validate(out).status, 0);
  const help = await captureOutput(() => main(['--help']));
  t.equal(help.value, 0);
  t.match(help.out, /^usage: aenv bootstrap --node-id/, 'usage names the aenv command');
  t.equal(await main(['--node-id', 'x']), 2, 'missing --cluster/--xds-port');
  t.equal(await main(['--bogus']), 2);
  void execFileSync;
});

t.test('Envoy admin listens on loopback only; xDS over a Unix socket is a pipe address', async (t) => {
  const b = generateBootstrap({ nodeId: 'n', cluster: 'c', xdsSocket: '/run/aenv/xds.sock', mode: 'delta', adminPort: 9901 }) as any;
  t.same(b.admin.address, { socket_address: { address: '127.0.0.1', port_value: 9901 } }, 'admin on 127.0.0.1');
  const xds = b.static_resources.clusters.find((c: any) => c.name === 'xds_cluster');
  t.same(xds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { pipe: { path: '/run/aenv/xds.sock' } });
  t.throws(() => generateBootstrap({ nodeId: 'n', cluster: 'c', xdsSocket: 'relative.sock', mode: 'delta' }), /xdsSocket must be an absolute path/);
});
