import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { main } from '../../control-plane/cli.ts';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';
import { routeSample } from './plugin-samples.ts';
import { captureOutput } from '../helpers/capture-output.ts';

t.test('control-plane CLI: --help, missing/invalid config', async (t) => {
  const help = await captureOutput(() => main(['--help']));
  t.equal(help.value, 0);
  t.match(help.out, /^usage: aenv control-plane --config/, 'usage names the aenv command');
  t.equal(await main([]), 2, '--config is required');
  t.equal(await main(['--nope']), 2);
  const dir = mkdtempSync(join(tmpdir(), 'cp-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'xds: { port: "x" }\nunknown: 1\n');
  t.equal(await main(['--config', bad]), 2, 'an invalid config file is refused before anything starts');
});

t.test('control-plane CLI runs from a YAML config and stops cleanly on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-cli-'));
  const cfg = join(dir, 'cp.yaml');
  writeFileSync(cfg, stringify({ id: 'cli-cp', logLevel: 'warn', app: { plugins: [routeSample()] } }));
  const child = spawn(process.execPath, ['--import=tsx', '-e', `import('./control-plane/cli.ts').then(async (m) => process.exit(await m.main(['--config', ${JSON.stringify(cfg)}])))`], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const apiUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no startup line: ${out}`)), 20_000);
    child.stdout.on('data', () => {
      const m = /API (http:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
  });
  t.match(out, /xDS 127\.0\.0\.1:\d+/);
  const status = (await (await fetch(`${apiUrl}/v1/status`)).json()) as { controlPlaneId: string; snapshot: { counts: Record<string, number> } };
  t.equal(status.controlPlaneId, 'cli-cp');
  t.equal(status.snapshot.counts['type.googleapis.com/envoy.config.cluster.v3.Cluster'], 2, 'the app config from the file is published');
  const code = await new Promise<number | null>((resolve) => { child.once('exit', (c) => resolve(c)); child.kill('SIGTERM'); });
  t.equal(code, 0, 'exit 0 after SIGTERM');
});
