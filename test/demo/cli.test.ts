// `aenv demo` as a user runs it (what `npm start` runs after setup): it keeps
// running with the addresses to try, and Ctrl-C (SIGINT) stops everything,
// Envoy included.
import t from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../dev/toolchain.ts';

t.test('aenv demo runs, prints what to try, and stops cleanly on Ctrl-C', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'demo-cli-'));
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/aenv.js'), 'demo', '--ports', 'auto', '--dir', dir], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const deadline = Date.now() + 90_000;
  while (!out.includes('Ctrl-C stops everything') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
  t.match(out, /reply +"I got your message: hello"/, 'the scenario ran');
  t.match(out, /grpcurl -plaintext unix:\/\/\S+\/xds\.sock list/, 'a ready grpcurl command is printed (xDS on its Unix socket)');
  t.match(out, /aenv\.js client --url http:\/\/127\.0\.0\.1:\d+/, 'the client command is printed');
  const envoyPids = () => {
    try {
      return execFileSync('pgrep', ['-f', `${dir}/envoy/bootstrap.yaml`], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  t.not(envoyPids(), '', 'Envoy is running');
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.equal(code, 0, 'exit code 0');
  t.match(out, /stopped cleanly\./);
  t.equal(envoyPids(), '', 'no Envoy left behind');
});
